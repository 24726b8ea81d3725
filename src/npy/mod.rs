//! `.npy` files through the `npyz` crate: written whole or not at all, read with
//! clear errors for what gpucalc cannot take.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::atomic_file::io_error;
use crate::error::{Error, Result};

mod write;

pub(crate) use write::file_bytes;
pub use write::{write_npy, write_npy_float, NpyOut};

/// An array read from an `.npy` file: its shape and C-order elements.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray<T> {
    /// The shape, as NumPy has it.
    pub shape: Vec<u64>,
    /// The elements in C (row-major) order.
    pub data: Vec<T>,
}

/// A problem with a file's contents, as an [`Error::Io`] naming the file.
fn bad_file(path: &Path, message: String) -> Error {
    io_error(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, message),
    )
}

/// What the header is parsed from and the elements are read from (by npyz, or
/// straight into the array): the bytes read to check the header, then the rest of the file.
type Source = BufReader<std::io::Chain<std::io::Cursor<Vec<u8>>, Box<dyn Read + Send>>>;

/// Opens an `.npy` file and reads its header after checking it: one that ends
/// early is called truncated, and a shape of 2^64 elements or more is refused
/// (npyz multiplies the dimensions unchecked: a panic in debug builds, a
/// wrapped count in release, and then an array read short of its shape).
/// The file is read once from the start, so a pipe (`<(...)`, `/dev/stdin`)
/// works too.
fn open(path: &Path) -> Result<Opened> {
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let file_bytes = bytes_left(&mut file);
    open_reader(path, Box::new(file), file_bytes)
}

/// The bytes from where `file` stands to its end, where it is a regular file
/// (opened by name, or standard input redirected from one); `None` for a
/// pipe, a terminal, a device.
fn bytes_left(file: &mut File) -> Option<u64> {
    use std::io::Seek;
    let length = file.metadata().ok().filter(|m| m.is_file())?.len();
    Some(length.saturating_sub(file.stream_position().ok()?))
}

/// An `.npy` header read, and the reader standing at the first element.
struct Opened {
    header: npyz::NpyHeader,
    source: Source,
    /// The bytes from where the read began to the file's end, where it is a
    /// regular file ([`bytes_left`]).
    file_bytes: Option<u64>,
}

/// [`open`] of a reader, its errors naming `path`; `file_bytes` is what
/// [`bytes_left`] says of it.
fn open_reader(
    path: &Path,
    mut file: Box<dyn Read + Send>,
    file_bytes: Option<u64>,
) -> Result<Opened> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    let mut head = Vec::with_capacity(12);
    (&mut file)
        .take(12)
        .read_to_end(&mut head)
        .map_err(|e| io_error(path, e))?;
    let mut header = None;
    if head.len() < 12 && head.len() > 1 && MAGIC.starts_with(&head[..head.len().min(6)]) {
        return Err(bad_file(
            path,
            "the file ends inside its .npy header (truncated?)".to_string(),
        ));
    }
    if head.len() == 12 && head.starts_with(MAGIC) {
        if !(1..=3).contains(&head[6]) {
            return Err(bad_file(
                path,
                format!(
                    ".npy format version {}.{} is not one gpucalc reads (NumPy writes 1.0 to 3.0)",
                    head[6], head[7]
                ),
            ));
        }
        let (length, start) = match head[6] {
            1 => (u64::from(u16::from_le_bytes([head[8], head[9]])), 10),
            _ => (
                u64::from(u32::from_le_bytes([head[8], head[9], head[10], head[11]])),
                12,
            ),
        };
        let before = head.len();
        (&mut file)
            .take(length.saturating_sub((before - start) as u64))
            .read_to_end(&mut head)
            .map_err(|e| io_error(path, e))?;
        if ((head.len() - start) as u64) < length {
            return Err(bad_file(
                path,
                "the file ends inside its .npy header (truncated?)".to_string(),
            ));
        }
        native_byte_order(&mut head[start..]);
        let text = String::from_utf8_lossy(&head[start..]).trim().to_string();
        if let Some(shape) = header_shape(&text) {
            if shape
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d))
                .is_none()
            {
                return Err(bad_file(
                    path,
                    format!(
                        "the header's shape {} has 2^64 elements or more",
                        clip(&format!("{shape:?}"))
                    ),
                ));
            }
        }
        header = Some(text);
    }
    // Read no further than the array: a stream holding several (as
    // `np.save(f, a); np.save(f, b)` writes) is left at the next one.
    let file: Box<dyn Read + Send> = match header.as_deref().and_then(data_bytes) {
        Some(bytes) => Box::new(file.take(bytes)),
        None => file,
    };
    let mut source = BufReader::new(std::io::Cursor::new(head).chain(file));
    let header = npyz::NpyHeader::from_reader(&mut source).map_err(|e| {
        // npyz's parse errors span several lines (a caret under the column).
        let first = e.to_string();
        let first = first.lines().next().unwrap_or("").trim_end_matches(':');
        let why = match header {
            // A header npyz cannot read because of its dtype (object arrays,
            // which NumPy saves pickled) is a wrong dtype, not a broken file.
            Some(text) => match header_descr(&text).filter(|_| first.contains("type string")) {
                Some(descr) => not_float(&descr),
                None => format!("malformed .npy header ({first}): {}", clip(&text)),
            },
            None => format!("not an .npy file ({first})"),
        };
        bad_file(path, why)
    })?;
    Ok(Opened {
        header,
        source,
        file_bytes,
    })
}

/// `text`, cut to its first 200 characters for a one-line message.
fn clip(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// Spells a float dtype's byte order `=` (native) or `|` as this host's `<`
/// or `>`, in the header dict `header` in place (one byte for one): NumPy
/// reads `=f8` and `|f8` so, npyz takes only `<` and `>` on wide types. Other
/// dtypes are left as written, so a refusal quotes them as the file has them.
fn native_byte_order(header: &mut [u8]) {
    const KEY: &[u8] = b"'descr'";
    let Some(key) = header.windows(KEY.len()).position(|w| w == KEY) else {
        return;
    };
    let Some(value) = header[key + KEY.len()..]
        .trim_ascii_start()
        .strip_prefix(b":")
        .map(<[u8]>::trim_ascii_start)
    else {
        return;
    };
    if let [b'\'', b'=' | b'|', b'f', b'4' | b'8', b'\'', ..] = value {
        let at = header.len() - value.len() + 1; // past the opening quote
        header[at] = if cfg!(target_endian = "little") {
            b'<'
        } else {
            b'>'
        };
    }
}

/// The bytes of element data an `.npy` header promises, where its dtype has a
/// fixed size in bytes (`<f8`, `|u1`, `<c16`, ...; not strings or objects).
fn data_bytes(header: &str) -> Option<u64> {
    let descr = header_descr(header)?;
    let (kind, size) = type_code(&descr).split_at_checked(1)?;
    if !"fiucb".contains(kind) {
        return None;
    }
    let size: u64 = size.parse().ok()?;
    header_shape(header)?
        .iter()
        .try_fold(size, |n, &d| n.checked_mul(d))
}

/// The text after `'key':` in an `.npy` header dict, where the key is there.
fn header_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let quoted = format!("'{key}'");
    let after = &header[header.find(&quoted)? + quoted.len()..];
    Some(after.trim_start().strip_prefix(':')?.trim_start())
}

/// The `'descr': '...'` string of an `.npy` header dict, where it is one.
fn header_descr(header: &str) -> Option<String> {
    let value = header_value(header, "descr")?.strip_prefix('\'')?;
    Some(value[..value.find('\'')?].to_string())
}

/// A dtype string less its byte-order mark: `<f8` is `f8`, `|O` is `O`.
fn type_code(descr: &str) -> &str {
    descr.trim_start_matches(['<', '>', '|', '='])
}

/// Why an array of dtype `descr` cannot be read, and what to do.
fn not_float(descr: &str) -> String {
    let what = if type_code(descr) == "O" {
        " (Python objects)"
    } else {
        ""
    };
    format!(
        "dtype {}{what} is not float32 or float64; convert with x.astype(numpy.float64)",
        clip(descr)
    )
}

/// The `'shape': (a, b, ...)` of an `.npy` header dict, where it parses (npyz
/// reports the headers that do not).
fn header_shape(header: &str) -> Option<Vec<u64>> {
    let tuple = header_value(header, "shape")?.strip_prefix('(')?;
    let tuple = &tuple[..tuple.find(')')?];
    tuple
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_end_matches('L').parse().ok())
        .collect()
}

/// Reads an `.npy` file of element type `T` (`f32` or `f64`, either byte
/// order), from a file or a pipe. A Fortran-order array comes back in C
/// order (the same array, as NumPy sees it). Content npyz cannot read as `T`
/// is refused; every problem with the file is an [`Error::Io`] naming it.
pub fn read_npy<T: npyz::Deserialize + npyz::AutoSerialize + bytemuck::Pod>(
    path: &Path,
) -> Result<NpyArray<T>> {
    read_opened(path, open(path)?)
}

/// [`read_npy`] of a file already opened.
fn read_opened<T: npyz::Deserialize + npyz::AutoSerialize + bytemuck::Pod>(
    path: &Path,
    opened: Opened,
) -> Result<NpyArray<T>> {
    let Opened {
        header,
        mut source,
        file_bytes,
    } = opened;
    let fortran = header.order() == npyz::Order::Fortran && reorders(header.shape());
    let shape = header.shape().to_vec();
    let dtype = header.dtype();
    // An array the file really holds is checked against the host's memory
    // first (twice over where it is reordered from Fortran order), so a
    // memory limit is an error rather than the kernel killing the process.
    // A header that promises more than its file holds is left to end in
    // "truncated" below; a pipe's length is not known, so its header's
    // promise is what is checked (and then reserved at once, as for a file
    // that holds it: grown piece by piece, the array could take twice its
    // size in address space).
    let bytes = header.len().saturating_mul(std::mem::size_of::<T>() as u64);
    if file_bytes.is_none_or(|file| file >= bytes) {
        let what = format!(
            "the array in {} ({} elements)",
            path.display(),
            header.len()
        );
        crate::backend::cpu::check_host_fits(&what, bytes.saturating_mul(1 + u64::from(fortran)))?;
    }
    let data = if dtype == T::default_dtype() && same_bytes_as_host::<T>(&dtype) {
        read_native(&mut source, header.len(), file_bytes)
    } else {
        npyz::NpyFile::with_header(header, source).into_vec::<T>()
    };
    let data = data.map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            format!(
                "the file ends before the {} elements its header promises (truncated?)",
                shape.iter().product::<u64>()
            )
        } else if e.kind() == std::io::ErrorKind::OutOfMemory {
            format!(
                "this host cannot hold the {} elements its header promises",
                shape.iter().product::<u64>()
            )
        } else {
            format!(
                "cannot read dtype {} as {} ({e})",
                dtype.descr(),
                std::any::type_name::<T>()
            )
        };
        bad_file(path, why)
    })?;
    let data = if fortran {
        fortran_to_c(&shape, data)
    } else {
        data
    };
    Ok(NpyArray { shape, data })
}

/// Whether elements of `dtype` are stored as this host holds a `T`: a plain
/// type of `T`'s size in the host's byte order (or one where order does not
/// matter), so the file's bytes are the array's bytes.
fn same_bytes_as_host<T>(dtype: &npyz::DType) -> bool {
    use npyz::Endianness;
    match dtype {
        npyz::DType::Plain(t) => {
            t.num_bytes() == Some(std::mem::size_of::<T>())
                && [Endianness::of_machine(), Endianness::Irrelevant].contains(&t.endianness())
        }
        _ => false,
    }
}

/// `n` elements stored as this host holds them, read straight into the array.
/// It grows a piece at a time where the file is known to be too short, so a
/// header that promises more than the file holds costs no more memory than
/// the file, and ends in `UnexpectedEof`; otherwise (a file long enough, a
/// pipe whose promise was checked against memory) it is reserved at once.
fn read_native<T: bytemuck::Pod>(
    source: &mut impl Read,
    n: u64,
    file_bytes: Option<u64>,
) -> std::io::Result<Vec<T>> {
    use std::io::ErrorKind;
    let size = std::mem::size_of::<T>() as u64;
    let too_many = || std::io::Error::from(ErrorKind::OutOfMemory);
    let n = usize::try_from(n).map_err(|_| too_many())?;
    let mut data: Vec<T> = Vec::new();
    if file_bytes.is_none_or(|bytes| bytes / size >= n as u64) {
        data.try_reserve_exact(n).map_err(|_| too_many())?;
    }
    let piece = (16 << 20) / size as usize;
    while data.len() < n {
        let start = data.len();
        let take = piece.min(n - start);
        data.try_reserve(take).map_err(|_| too_many())?;
        data.resize(start + take, T::zeroed());
        source.read_exact(bytemuck::cast_slice_mut(&mut data[start..]))?;
    }
    Ok(data)
}

/// Whether an array of `shape` lies differently in Fortran and C order: with
/// at most one dimension longer than 1 (or none at all), the two are the same.
fn reorders(shape: &[u64]) -> bool {
    shape.iter().filter(|&&d| d > 1).count() >= 2 && !shape.contains(&0)
}

/// The elements of a Fortran-order array of `shape` (what `np.save(x.T)`
/// writes), in C order: the same array as NumPy sees it, laid out as gpucalc
/// reads every input.
fn fortran_to_c<T: Copy>(shape: &[u64], data: Vec<T>) -> Vec<T> {
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    if data.is_empty() || !reorders(shape) {
        return data;
    }
    if let [rows, cols] = dims[..] {
        // Column-major rows×cols is row-major cols×rows: transpose it in tiles.
        const TILE: usize = 32;
        let mut out = Vec::with_capacity(data.len());
        let spare = out.spare_capacity_mut();
        for c0 in (0..cols).step_by(TILE) {
            for r0 in (0..rows).step_by(TILE) {
                for c in c0..(c0 + TILE).min(cols) {
                    for r in r0..(r0 + TILE).min(rows) {
                        spare[r * cols + c].write(data[c * rows + r]);
                    }
                }
            }
        }
        // SAFETY: the tiles cover every (r, c) of rows×cols = data.len() once,
        // so every element of the spare capacity was written above.
        unsafe { out.set_len(data.len()) };
        return out;
    }
    // Any rank: walk C order with an odometer over the Fortran strides.
    let strides: Vec<usize> = dims
        .iter()
        .scan(1usize, |stride, &d| {
            let s = *stride;
            *stride *= d;
            Some(s)
        })
        .collect();
    let mut index = vec![0usize; dims.len()];
    let mut out = Vec::with_capacity(data.len());
    for _ in 0..data.len() {
        let offset: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
        out.push(data[offset]);
        for axis in (0..dims.len()).rev() {
            index[axis] += 1;
            if index[axis] < dims[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// Reads an `.npy` file of `f32` or `f64` elements (either byte order), whichever it holds.
pub fn read_npy_float(path: &Path) -> Result<(Vec<u64>, crate::dtype::FloatVec)> {
    read_float_opened(path, open(path)?)
}

/// [`read_npy_float`] of the `.npy` data on standard input (a pipe or a
/// redirected file, read from where it stands), errors naming `standard input`.
pub(crate) fn read_npy_float_stdin() -> Result<(Vec<u64>, crate::dtype::FloatVec)> {
    let name = Path::new("standard input");
    // The descriptor itself, unbuffered, where there is one: std's `Stdin`
    // reads ahead into a buffer this process takes with it, so the array
    // after this one would be lost to the next reader.
    // A redirected file (`< x.npy`) has a length, from where it stands on,
    // as a file opened by name does; a pipe has none.
    #[cfg(unix)]
    let (stdin, file_bytes): (Box<dyn Read + Send>, _) = {
        use std::os::fd::AsFd;
        let fd = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| io_error(name, e))?;
        let mut file = File::from(fd);
        let left = bytes_left(&mut file);
        (Box::new(file), left)
    };
    #[cfg(not(unix))]
    let (stdin, file_bytes): (Box<dyn Read + Send>, _) = (Box::new(std::io::stdin()), None);
    read_float_opened(name, open_reader(name, stdin, file_bytes)?)
}

fn read_float_opened(path: &Path, npy: Opened) -> Result<(Vec<u64>, crate::dtype::FloatVec)> {
    let descr = npy.header.dtype().descr();
    match descr.trim_matches('\'') {
        "<f4" | ">f4" => {
            let a = read_opened::<f32>(path, npy)?;
            Ok((a.shape, crate::dtype::FloatVec::F32(a.data)))
        }
        "<f8" | ">f8" => {
            let a = read_opened::<f64>(path, npy)?;
            Ok((a.shape, crate::dtype::FloatVec::F64(a.data)))
        }
        // A record dtype's descr is a list, which npyz writes with a trailing ", ".
        other => Err(bad_file(path, not_float(&other.replace(", ]", "]")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_file_is_called_that() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        write_npy(&path, &[10], &[0.5f64; 10]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 12]).unwrap();
        let err = read_npy_float(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("the file ends before the 10 elements its header promises (truncated?)"),
            "{err}"
        );
    }

    #[test]
    fn a_header_promising_more_than_the_file_holds_is_truncated_not_allocated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let mut bytes = write::header::<f64>(&[1 << 40]).unwrap();
        bytes.extend_from_slice(&[0; 16]);
        std::fs::write(&path, &bytes).unwrap();
        // 2^40 elements are 8 TiB: read a piece at a time, the file runs out first.
        let err = read_npy_float(&path).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "the file ends before the 1099511627776 elements its header promises (truncated?)"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_header_cut_short_or_malformed_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        write_npy(&path, &[10], &[0.5f64; 10]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for cut in [4, 11, 40] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let err = read_npy_float(&path).unwrap_err().to_string();
            assert!(
                err.ends_with("ends inside its .npy header (truncated?)"),
                "{cut}: {err}"
            );
        }
        let at = bytes.windows(3).position(|w| w == b"10,").unwrap();
        let mut bad = bytes.clone();
        bad[at + 2] = b' ';
        std::fs::write(&path, &bad).unwrap();
        let err = read_npy_float(&path).unwrap_err().to_string();
        assert!(
            err.contains("malformed .npy header (") && err.contains("(10 "),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        std::fs::write(&path, b"not an array at all").unwrap();
        let err = read_npy_float(&path).unwrap_err().to_string();
        assert!(err.contains("not an .npy file"), "{err}");
    }

    /// `=` and `|` byte orders on floats (NumPy reads both as native), a
    /// format version NumPy never wrote, and a header too long for one line.
    #[test]
    fn byte_order_spellings_versions_and_long_headers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        write_npy(&path, &[3], &[1.0f64, 4.0, 9.0]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let at = bytes.windows(5).position(|w| w == b"'<f8'").unwrap() + 1;
        for order in [b'=', b'|'] {
            let mut native = bytes.clone();
            native[at] = order;
            std::fs::write(&path, &native).unwrap();
            let (_, data) = read_npy_float(&path).unwrap();
            assert_eq!(
                data.as_f64(),
                Some(&[1.0, 4.0, 9.0][..]),
                "{}",
                order as char
            );
        }
        // Other dtypes are refused as the file spells them.
        for (descr, shown) in [(b"=i8", "dtype =i8 "), (b"|i8", "dtype |i8 ")] {
            let mut int = bytes.clone();
            int[at..at + 3].copy_from_slice(descr);
            std::fs::write(&path, &int).unwrap();
            let err = read_npy_float(&path).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains(shown), "{err}");
        }
        let mut version = bytes.clone();
        version[6] = 9;
        std::fs::write(&path, &version).unwrap();
        let err = read_npy_float(&path).unwrap_err().to_string();
        assert!(err.contains("format version 9.0"), "{err}");

        // Malformed (the `x`), so the message quotes it.
        let shape = vec!["1"; 5000].join(", ") + ", x";
        let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({shape},) }}");
        let mut file = b"\x93NUMPY\x02\x00".to_vec();
        file.extend_from_slice(&(dict.len() as u32 + 1).to_le_bytes());
        file.extend_from_slice(dict.as_bytes());
        file.extend_from_slice(b"\n");
        file.extend_from_slice(&[0; 8]);
        std::fs::write(&path, &file).unwrap();
        let err = read_npy_float(&path).map(|_| ()).unwrap_err().to_string();
        assert!(err.len() < 400, "{} characters: {err}", err.len());
    }

    #[test]
    fn fortran_order_comes_back_in_c_order() {
        // Column-major data of shape `dims` holds element (i0, i1, ...) at
        // i0 + d0 * (i1 + d1 * (...)); C order lists the same elements row by row.
        for dims in [
            vec![3usize, 5],
            vec![40, 70],
            vec![2, 3, 4],
            vec![1, 6, 1, 5],
        ] {
            let n: usize = dims.iter().product();
            let fortran: Vec<u32> = (0..n as u32).collect();
            let shape: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
            let c = fortran_to_c(&shape, fortran.clone());
            let mut index = vec![0usize; dims.len()];
            for &value in &c {
                let mut offset = 0;
                for axis in (0..dims.len()).rev() {
                    offset = offset * dims[axis] + index[axis];
                }
                assert_eq!(value, fortran[offset], "{dims:?} at {index:?}");
                for axis in (0..dims.len()).rev() {
                    index[axis] += 1;
                    if index[axis] < dims[axis] {
                        break;
                    }
                    index[axis] = 0;
                }
            }
        }
    }

    #[test]
    fn a_pipe_reads_like_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.npy");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped: no mkfifo here");
            return;
        }
        let source = dir.path().join("x.npy");
        write_npy(&source, &[2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let bytes = std::fs::read(&source).unwrap();
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, bytes).unwrap())
        };
        let (shape, data) = read_npy_float(&fifo).unwrap();
        writer.join().unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(
            data,
            crate::dtype::FloatVec::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
    }

    #[test]
    fn round_trip_and_atomicity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        write_npy(&path, &[2, 3], &[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let back = read_npy::<f64>(&path).unwrap();
        assert_eq!(back.shape, vec![2, 3]);
        assert_eq!(back.data[5], 6.0);

        // An abandoned write leaves the old file as it was, and no temp files.
        let mut out = NpyOut::<f64>::create(&path, &[4]).unwrap();
        out.push(&[9.0]).unwrap();
        drop(out);
        assert_eq!(read_npy::<f64>(&path).unwrap(), back);
        // A short write is refused at commit.
        let mut out = NpyOut::<f64>::create(&path, &[4]).unwrap();
        out.push(&[9.0]).unwrap();
        assert!(out.commit().is_err());
        assert_eq!(read_npy::<f64>(&path).unwrap(), back);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn wrong_dtype_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.npy");
        write_npy(&path, &[2], &[1u32, 2]).unwrap();
        let err = read_npy::<f64>(&path).unwrap_err().to_string();
        assert!(err.contains("cannot read dtype"), "{err}");
    }

    #[test]
    fn the_data_of_fixed_size_dtypes_is_measured_from_the_header() {
        let header = |descr: &str, shape: &str| {
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
        };
        assert_eq!(data_bytes(&header("<f8", "(3, 5)")), Some(120));
        assert_eq!(data_bytes(&header(">f4", "()")), Some(4));
        assert_eq!(data_bytes(&header("|u1", "(7,)")), Some(7));
        assert_eq!(data_bytes(&header("<c16", "(2,)")), Some(32));
        assert_eq!(data_bytes(&header("<f8", "(0, 4)")), Some(0));
        // Strings count characters, not bytes; objects have no size.
        assert_eq!(data_bytes(&header("<U2", "(2,)")), None);
        assert_eq!(data_bytes(&header("|O", "(2,)")), None);
    }

    #[test]
    fn an_object_array_is_named_as_one() {
        // What numpy.save writes for np.array([1, 'a'], dtype=object): a
        // header npyz does not parse, then a pickle.
        let dict = "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }";
        let mut header = format!("{dict:<117}\n").into_bytes();
        let mut file = b"\x93NUMPY\x01\x00".to_vec();
        file.extend_from_slice(&(header.len() as u16).to_le_bytes());
        file.append(&mut header);
        file.extend_from_slice(b"\x80\x02pickled");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.npy");
        std::fs::write(&path, file).unwrap();
        let err = read_npy_float(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("o.npy: dtype |O (Python objects) is not float32 or float64; convert with x.astype(numpy.float64)"),
            "{err}"
        );
    }
}
