//! The `gpucalc` command line: arguments in, output and an exit code out.
//!
//! `main.rs` only calls [`main`]; unit tests parse argument lists with `Cli`,
//! and the integration tests in `tests/` run the binary.

/// Returns a bad-arguments error (exit 2), formatted like `anyhow::bail!`.
macro_rules! usage_bail {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new(crate::Error::InvalidArgument(format!($($arg)*))))
    };
}

/// `println!` for what a command reports on standard output, except that a
/// closed or full standard output returns an error (exit 1) from the enclosing
/// function where `println!` would panic.
macro_rules! outln {
    ($($arg:tt)*) => {
        crate::cli::output::stdout(format_args!("{}\n", format_args!($($arg)*)))?
    };
}

/// `print!` as [`outln!`] is `println!`.
macro_rules! out {
    ($($arg:tt)*) => {
        crate::cli::output::stdout(format_args!($($arg)*))?
    };
}

mod bench;
mod devices;
mod map;
mod matmul;
mod number;
mod output;
mod pi;
mod rng;
mod stream;
mod transfer;

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;

use clap::{Args, Parser, Subcommand};

use crate::device::{Device, DeviceOptions, DeviceSpec};

pub use number::{parse_count, parse_whole};

/// Exit code for a usage error (bad arguments).
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a run that failed (device, runtime or file error).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code when a result did not match the CPU reference.
pub const EXIT_VERIFY_FAILED: u8 = 3;
/// Exit code after Ctrl-C (128 + SIGINT, as shells use), SIGTERM or SIGHUP.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Parallel numerical work on GPUs and CPUs: CUDA, OpenCL and rayon behind one device layer.
#[derive(Debug, Parser)]
#[command(name = "gpucalc", version, about, propagate_version = true)]
pub struct Cli {
    /// Where to run: auto, cpu, cuda, cuda:N, opencl, opencl:N (N as in `gpucalc devices`),
    /// or all (`pi`: every device at once; `bench`: each in turn) [env: GPUCALC_DEVICE] [default: auto].
    // Not clap's `env`: with `global` it would also parse the variable when the flag is given.
    #[arg(long, global = true, value_parser = parse_spec)]
    device: Option<DeviceSpec>,

    /// CPU worker threads: the CPU device's, and those that generate inputs and
    /// check results for any device; at most 8 per hardware thread (but 64
    /// at least, 4096 at most) [default: one per hardware thread].
    #[arg(long, global = true, value_parser = number::parse_threads, allow_negative_numbers = true)]
    threads: Option<usize>,

    /// Print one JSON value instead of text.
    // Not `global`: `bench` has its own `--json FILE`. Every other subcommand
    // takes `--json` through `Json`, so it goes before or after the subcommand.
    #[arg(long)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

/// `--json` after a subcommand.
#[derive(Debug, Args)]
struct Json {
    /// Print one JSON value instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every device this build can see.
    Devices(Json),
    /// Estimate pi by Monte Carlo over the reproducible Philox stream.
    Pi {
        #[command(flatten)]
        args: pi::PiArgs,
        #[command(flatten)]
        out: Json,
    },
    /// An elementwise function (sqrt, exp, ...) over a generated or .npy array.
    Map {
        #[command(flatten)]
        args: map::MapArgs,
        #[command(flatten)]
        out: Json,
    },
    /// Matrix product C = A·B on random or .npy matrices, f32 or f64.
    Matmul {
        #[command(flatten)]
        args: matmul::MatmulArgs,
        #[command(flatten)]
        out: Json,
    },
    /// Random numbers (uniform, normal, raw words) to a .npy file or stdout.
    Rng {
        #[command(flatten)]
        args: rng::RngArgs,
        #[command(flatten)]
        out: Json,
    },
    /// Device memory bandwidth: BabelStream's copy, mul, add, triad and dot.
    Stream {
        #[command(flatten)]
        args: stream::StreamArgs,
        #[command(flatten)]
        out: Json,
    },
    /// Host-to-device and device-to-host copy bandwidth by size.
    Transfer {
        #[command(flatten)]
        args: transfer::TransferArgs,
        #[command(flatten)]
        out: Json,
    },
    /// The benchmark suite: every workload on every chosen device, against its limits.
    Bench(bench::BenchArgs),
}

impl Command {
    /// Whether `--json` was given after the subcommand.
    fn json(&self) -> bool {
        match self {
            Command::Devices(out)
            | Command::Pi { out, .. }
            | Command::Map { out, .. }
            | Command::Matmul { out, .. }
            | Command::Rng { out, .. }
            | Command::Stream { out, .. }
            | Command::Transfer { out, .. } => out.json,
            Command::Bench(_) => false,
        }
    }
}

fn parse_spec(text: &str) -> Result<DeviceSpec, String> {
    text.parse().map_err(|e: crate::Error| e.to_string())
}

/// The device named by `GPUCALC_DEVICE`, or `auto` when it is unset or empty.
fn device_from_env() -> Result<DeviceSpec, String> {
    match std::env::var("GPUCALC_DEVICE") {
        Ok(text) if !text.trim().is_empty() => {
            parse_spec(&text).map_err(|e| format!("GPUCALC_DEVICE: {e}"))
        }
        Err(std::env::VarError::NotUnicode(text)) => Err(format!(
            "GPUCALC_DEVICE: `{}` is not a device spec (not UTF-8 text)",
            text.to_string_lossy()
        )),
        _ => Ok(DeviceSpec::Auto),
    }
}

/// The global options every subcommand shares.
pub(crate) struct Globals {
    pub device: DeviceSpec,
    pub threads: Option<usize>,
    pub json: bool,
}

impl Globals {
    /// Opens the device the user asked for; for `auto`, a note on stderr for each device it
    /// passed over because it would not open.
    pub fn open_device(&self) -> crate::Result<Device> {
        let options = DeviceOptions {
            threads: self.threads,
        };
        let (device, passed_over) = Device::select_explained(&self.device, &options)?;
        for (name, why) in passed_over {
            eprintln!("gpucalc: note: auto passed over {name}: {why}");
        }
        Ok(device)
    }

    /// The devices to run on: every one that opens with `--device all` (a note
    /// on stderr for each that does not), else the one the spec names.
    pub fn open_devices(&self) -> crate::Result<Vec<Device>> {
        if self.device != DeviceSpec::All {
            return Ok(vec![self.open_device()?]);
        }
        let opened = Device::open_all(&DeviceOptions {
            threads: self.threads,
        })?;
        for (name, why) in opened.skipped {
            eprintln!("gpucalc: note: skipping {name}: {why}");
        }
        Ok(opened.devices)
    }
}

/// Runs `gpucalc` with these arguments (the first is the program name) and
/// returns the exit code. Errors print as one line on stderr.
pub(crate) fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, subcommand_named(&args)),
    };
    let device = match cli.device {
        Some(spec) => spec,
        None => match device_from_env() {
            Ok(spec) => spec,
            // `devices` opens no device, and is what a user runs to fix the spec.
            Err(e) if matches!(cli.command, Command::Devices(_)) => {
                eprintln!("gpucalc: warning: {e} (ignored: `devices` lists them all)");
                DeviceSpec::Auto
            }
            Err(e) => {
                eprintln!("gpucalc: error: {}", escape_controls(&e));
                return ExitCode::from(EXIT_USAGE);
            }
        },
    };
    if let Some(threads) = cli.threads {
        // Input generation and the checks run on rayon's global pool: size it
        // too, so `--threads 1` means one thread. It can be built once per
        // process; a second `run` in the same process keeps the first size.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
    }
    let globals = Globals {
        device,
        threads: cli.threads,
        json: cli.json || cli.command.json(),
    };
    let outcome = match &cli.command {
        Command::Devices(_) => devices::run(&globals),
        Command::Pi { args, .. } => pi::run(&globals, args),
        Command::Stream { args, .. } => stream::run(&globals, args),
        Command::Rng { args, .. } => rng::run(&globals, args),
        Command::Map { args, .. } => map::run(&globals, args),
        Command::Matmul { args, .. } => matmul::run(&globals, args),
        Command::Transfer { args, .. } => transfer::run(&globals, args),
        Command::Bench(args) => bench::run(&globals, args),
    };
    // The last of the report may still be buffered.
    let outcome = outcome.and_then(|code| {
        use std::io::Write;
        std::io::stdout().flush().map_err(output::stdout_error)?;
        Ok(code)
    });
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("gpucalc: error: {}", chain_line(&e));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// The error and its causes on one line, `outer: cause: cause`, as anyhow's
/// `{:#}` prints them, less a cause whose text its parent already ends with
/// (a third-party error may show its source and return it too). A line
/// break or other control character (in a file name, say) is written as its
/// escape, `\n`, so the error stays one line.
fn chain_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    escape_controls(&line)
}

/// `text` with each control character as its Rust escape (`\n`, `\t`, `\u{1b}`).
fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Bad requests (out-of-range or conflicting arguments, a malformed device
/// spec: [`crate::Error::InvalidArgument`] and [`crate::Error::InvalidSpec`]
/// anywhere in the chain, on one device of several too) exit with
/// [`EXIT_USAGE`]; anything else that failed with [`EXIT_FAILURE`].
fn exit_code(e: &anyhow::Error) -> u8 {
    fn is_bad_request(e: &crate::Error) -> bool {
        match e {
            crate::Error::InvalidArgument(_) | crate::Error::InvalidSpec { .. } => true,
            crate::Error::OnDevice { error, .. } => is_bad_request(error),
            _ => false,
        }
    }
    let bad_request = e.chain().any(|cause| {
        cause
            .downcast_ref::<crate::Error>()
            .is_some_and(is_bad_request)
    });
    if bad_request {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    }
}

/// What the signal handler acts on: the process's cancel token, and whether
/// the running command watches it.
struct Interrupts {
    token: crate::CancelToken,
    watched: AtomicBool,
    /// A signal came after a result file was in place, and was let pass.
    let_pass: AtomicBool,
}

static INTERRUPTS: LazyLock<Interrupts> = LazyLock::new(|| Interrupts {
    token: crate::CancelToken::new(),
    watched: AtomicBool::new(false),
    let_pass: AtomicBool::new(false),
});

/// Routes Ctrl-C, SIGTERM and SIGHUP (a terminal closed, a batch job's time
/// up) to [`INTERRUPTS`]. In a command that watches the token
/// ([`cancel_token`]) the first signal stops the run at its next chunk, and a
/// second ends the process at once; any other command ends at once, unless
/// its result file is in place already: it is then only printing its report,
/// so the first signal lets it finish (and exit as it would have; `bench`
/// goes on to write its other file), rather than exit 130 over a file it did
/// write. Ending at once skips destructors, so the half-written temporary
/// files go first; both decisions are taken where no rename can be half done.
fn install_signal_handler() {
    // Without a handler, the signals keep their default: the process ends.
    let _ = ctrlc::set_handler(|| {
        let interrupts = &*INTERRUPTS;
        if interrupts.watched.load(Ordering::SeqCst) && !interrupts.token.is_cancelled() {
            interrupts.token.cancel();
            return;
        }
        // A watched command's first signal was the cancel (harmless once its
        // file is in place), so its second ends it, as the README says.
        let watched = interrupts.watched.load(Ordering::SeqCst);
        crate::atomic_file::end_unless(
            |published| published && !watched && !interrupts.let_pass.swap(true, Ordering::SeqCst),
            || exit_now(EXIT_INTERRUPTED),
        );
    });
}

/// Ends the process from the signal thread without the C library's exit
/// handlers: the NVIDIA driver's would tear down a GPU context that the main
/// thread may be inside a call on, which can hang the process instead of
/// ending it. Nothing is left to flush: the run was interrupted.
fn exit_now(code: u8) -> ! {
    #[cfg(unix)]
    // SAFETY: _exit only ends the process; it touches no memory of ours.
    unsafe {
        libc::_exit(i32::from(code))
    }
    #[cfg(not(unix))]
    std::process::exit(i32::from(code))
}

/// The token the signal handler cancels: a command that takes it promises to
/// check it between chunks and stop soon after it is cancelled.
pub(crate) fn cancel_token() -> crate::CancelToken {
    INTERRUPTS.watched.store(true, Ordering::SeqCst);
    INTERRUPTS.token.clone()
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    restore_sigpipe();
    install_signal_handler();
    run(std::env::args_os())
}

/// Makes a closed pipe end the process quietly, as it does for other Unix
/// tools (`gpucalc rng 1e9 -o - | head -c 100`), instead of making every
/// print fail. Rust ignores SIGPIPE by default.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_DFL before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Prints a clap error as one line (help and version print in full).
fn usage_error(e: clap::Error, subcommand: Option<String>) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return ExitCode::from(EXIT_USAGE);
    }
    eprintln!(
        "gpucalc: {}",
        one_line(&e.render().to_string(), subcommand.as_deref())
    );
    ExitCode::from(EXIT_USAGE)
}

/// The first argument that names a subcommand, if any.
fn subcommand_named(args: &[OsString]) -> Option<String> {
    use clap::CommandFactory;
    let command = Cli::command();
    args.iter().skip(1).find_map(|arg| {
        let arg = arg.to_str()?;
        command
            .get_subcommands()
            .any(|sub| sub.get_name() == arg)
            .then(|| arg.to_string())
    })
}

/// Folds clap's multi-line message into one line: the error, then its tips
/// (clap's "a similar argument exists: '--seed'"), then where the help is:
/// the subcommand's own where one was named, since the top-level help does
/// not list a subcommand's flags.
fn one_line(rendered: &str, subcommand: Option<&str>) -> String {
    let mut parts = Vec::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") {
            break;
        }
        if line.starts_with("For more information") || line.is_empty() {
            continue;
        }
        parts.push(match line.strip_prefix("tip:") {
            Some(tip) => format!("({})", tip.trim()),
            None => line.to_string(),
        });
    }
    let help = match subcommand {
        Some(name) => format!("gpucalc {name} --help"),
        None => "gpucalc --help".to_string(),
    };
    format!("{} (see `{help}`)", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_fold_to_one_line() {
        let fold = |args: &[&str]| {
            let args: Vec<OsString> = args.iter().map(OsString::from).collect();
            let e = Cli::try_parse_from(&args).unwrap_err();
            one_line(&e.render().to_string(), subcommand_named(&args).as_deref())
        };
        let line = fold(&["gpucalc", "pi"]);
        assert!(!line.contains('\n'));
        assert!(line.contains("<SAMPLES>"), "{line}");
        assert!(line.ends_with("(see `gpucalc pi --help`)"), "{line}");
        // clap's suggestions stay; the help named is the subcommand's.
        let line = fold(&["gpucalc", "--json", "pi", "10", "--seeed", "3"]);
        assert!(line.contains("'--seed'"), "{line}");
        assert!(line.ends_with("(see `gpucalc pi --help`)"), "{line}");
        let line = fold(&["gpucalc", "stream", "-n", "1"]);
        assert!(line.ends_with("(see `gpucalc stream --help`)"), "{line}");
        let line = fold(&["gpucalc", "devic"]);
        assert!(line.contains("'devices'"), "{line}");
        assert!(line.ends_with("(see `gpucalc --help`)"), "{line}");
    }

    #[test]
    fn each_cause_is_printed_once() {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let io = crate::Error::Io {
            path: "x.npy".to_string(),
            error: missing,
        };
        let e = anyhow::Error::new(io).context("reading the input");
        assert_eq!(chain_line(&e), "reading the input: x.npy: no such file");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(chain_line(&e), "outer: inner");
        let e = anyhow::anyhow!("no\ndir/a.json: is a directory");
        assert_eq!(chain_line(&e), "no\\ndir/a.json: is a directory");
    }

    #[test]
    fn a_bad_request_on_one_device_of_several_is_still_a_usage_error() {
        let e = crate::Error::OnDevice {
            device: "cuda:1 (NVIDIA H200)".to_string(),
            error: Box::new(crate::Error::InvalidArgument("too many".to_string())),
        };
        assert_eq!(exit_code(&anyhow::Error::new(e)), EXIT_USAGE);
        let e = crate::Error::OnDevice {
            device: "cuda:1 (NVIDIA H200)".to_string(),
            error: Box::new(crate::Error::BackendDisabled(crate::BackendKind::Cuda)),
        };
        assert_eq!(exit_code(&anyhow::Error::new(e)), EXIT_FAILURE);
    }

    #[test]
    fn global_flags_go_before_or_after_the_subcommand() {
        for args in [
            &[
                "gpucalc",
                "--device",
                "cpu",
                "--threads",
                "3",
                "--json",
                "pi",
                "10",
            ][..],
            &[
                "gpucalc",
                "pi",
                "10",
                "--device",
                "cpu",
                "--threads",
                "3",
                "--json",
            ][..],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert_eq!(cli.device, Some(DeviceSpec::Cpu));
            assert_eq!(cli.threads, Some(3));
            assert!(cli.json || cli.command.json());
        }
    }
}
