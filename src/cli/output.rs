//! Text output helpers: aligned tables, number formats and the progress bar.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use console::Term;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike};

/// Writes the text of a report to standard output (see `outln!`): a closed or
/// full standard output is an error that names it, not a panic.
pub(crate) fn stdout(text: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    use std::io::Write;
    std::io::stdout()
        .lock()
        .write_fmt(text)
        .map_err(stdout_error)
}

/// The error for a failed write to standard output.
pub(crate) fn stdout_error(error: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(crate::Error::Io {
        path: "standard output".to_string(),
        error,
    })
}

/// Renders rows as columns separated by two spaces, the first row a header.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| format!("{cell:<width$}", width = widths[c]))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A rate with an SI prefix: `1.95 G`.
pub(crate) fn si(value: f64) -> String {
    // Beyond peta or below milli (a foreign baseline file's figures), the
    // exponent says it in a column's width: not 300 digits, nor "0.000".
    if value.is_finite() && value != 0.0 && !(1e-3..1e15).contains(&value.abs()) {
        return format!("{value:.3e} ");
    }
    let prefixes = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    for (scale, prefix) in prefixes {
        if value >= scale {
            return format!("{:.3} {prefix}", value / scale);
        }
    }
    format!("{value:.3} ")
}

/// The word for a check's outcome: `passed`, `failed`, or `skipped` when none ran.
pub(crate) fn verification_word(verified: Option<bool>) -> &'static str {
    match verified {
        None => "skipped",
        Some(true) => "passed",
        Some(false) => "failed",
    }
}

/// Whether `path` is `-`, which names standard input or output, as for other Unix tools.
pub(crate) fn is_dash(path: &std::path::Path) -> bool {
    path.as_os_str() == "-"
}

/// Reads the float `.npy` array at `path`, `-` meaning standard input (a
/// pipe or a redirected file). A terminal there is refused: it would wait
/// for typed binary data.
pub(crate) fn read_float_input(
    path: &std::path::Path,
) -> anyhow::Result<(Vec<u64>, crate::dtype::FloatVec)> {
    if !is_dash(path) {
        return Ok(crate::npy::read_npy_float(path)?);
    }
    if std::io::stdin().is_terminal() {
        usage_bail!(
            "`-` reads an .npy file from standard input: pipe or redirect one into gpucalc"
        );
    }
    Ok(crate::npy::read_npy_float_stdin()?)
}

/// How messages name an input path: `-` is `standard input`.
pub(crate) fn input_name(path: &std::path::Path) -> String {
    if is_dash(path) {
        "standard input".to_string()
    } else {
        path.display().to_string()
    }
}

/// Refuses an output path that does not end in `.npy`, before any work is done.
pub(crate) fn require_npy(path: Option<&std::path::Path>) -> anyhow::Result<()> {
    match path {
        Some(p) if is_dash(p) => {
            usage_bail!("-o -: this command writes .npy files only; name one (e.g. -o out.npy)")
        }
        Some(p) if p.extension().is_none_or(|e| !e.eq_ignore_ascii_case("npy")) => {
            usage_bail!("{}: the output file must end in .npy", p.display())
        }
        _ => Ok(()),
    }
}

/// Refuses, before the work, an `.npy` output of `elements` values of `float`
/// that could not be written (see [`crate::atomic_file::check_writable`]).
pub(crate) fn check_npy_output(
    path: Option<&std::path::Path>,
    elements: usize,
    float: crate::dtype::Float,
) -> anyhow::Result<()> {
    if let Some(path) = path {
        let bytes = crate::npy::file_bytes(elements as u64, float.size());
        crate::atomic_file::check_writable(path, bytes)?;
    }
    Ok(())
}

/// What became of a run's `-o PATH`. A result that failed verification is
/// never written: it would replace whatever the path held with numbers known
/// to be wrong.
pub(crate) enum Saved<'a> {
    /// No `-o`.
    NotAsked,
    /// Written to this path.
    Written(&'a std::path::Path),
    /// Not written, the file at this path untouched: the check failed.
    Withheld(&'a std::path::Path),
}

impl<'a> Saved<'a> {
    /// Writes the result to `path` with `write` unless `verified` is
    /// `Some(false)`.
    pub(crate) fn save(
        path: Option<&'a std::path::Path>,
        verified: Option<bool>,
        write: impl FnOnce(&std::path::Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<Saved<'a>> {
        Ok(match path {
            None => Saved::NotAsked,
            Some(path) if verified == Some(false) => Saved::Withheld(path),
            Some(path) => {
                // The writer's errors name the path already.
                write(path)?;
                Saved::Written(path)
            }
        })
    }

    /// For `--json`: `"output"` (the path asked for, or null) and
    /// `"output_written"`.
    pub(crate) fn json(&self) -> (Option<String>, bool) {
        match self {
            Saved::NotAsked => (None, false),
            Saved::Written(p) => (Some(p.display().to_string()), true),
            Saved::Withheld(p) => (Some(p.display().to_string()), false),
        }
    }

    /// The text report's `output` line, if any.
    pub(crate) fn line(&self) -> Option<String> {
        match self {
            Saved::NotAsked => None,
            Saved::Written(p) => Some(format!("output       {}", p.display())),
            Saved::Withheld(p) => Some(not_written(&p.display().to_string(), FAILED_CHECK)),
        }
    }
}

/// Why a result that failed its check has no file, and how to get one.
pub(crate) const FAILED_CHECK: &str =
    "the result failed verification; --no-verify writes results unchecked";

/// The text report's `output` line for a file not written, and why.
pub(crate) fn not_written(path: &str, why: &str) -> String {
    format!("output       not written: {why} ({path} untouched)")
}

/// A progress bar on stderr that appears only on a terminal and only once a
/// run has lasted longer than `delay`.
pub(crate) struct LazyProgress {
    start: Instant,
    delay: Duration,
    enabled: bool,
    unit: &'static str,
    bar: Mutex<Option<ProgressBar>>,
}

impl LazyProgress {
    pub fn new(unit: &'static str) -> LazyProgress {
        LazyProgress {
            start: Instant::now(),
            delay: Duration::from_millis(1000),
            // As indicatif's own stderr target: not on a dumb terminal.
            enabled: std::io::stderr().is_terminal() && !console::is_dumb(),
            unit,
            bar: Mutex::new(None),
        }
    }

    /// Records progress; draws once the delay has passed.
    pub fn update(&self, done: u64, total: u64) {
        if !self.enabled || self.start.elapsed() < self.delay {
            return;
        }
        let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        let bar = bar.get_or_insert_with(|| {
            let template = format!("{{elapsed_precise}} [{{bar:40}}] {{percent:>3}}% {{human_pos}}/{{human_len}} {} (eta {{eta_run}})", self.unit);
            let style = ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key(
                    "eta_run",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let eta = run_eta(state.elapsed(), state.pos(), state.len());
                        let _ = w.write_str(&eta.map_or_else(|| "-".to_string(), short_duration));
                    },
                )
                .progress_chars("=> ");
            let target = ProgressDrawTarget::term_like_with_hz(
                Box::new(EdgeMargin(Term::buffered_stderr())),
                20,
            );
            // The bar appears after `delay`: its clock starts with the run.
            ProgressBar::with_draw_target(Some(total), target)
                .with_style(style)
                .with_elapsed(self.start.elapsed())
        });
        // Devices of a `--device all` run report from their own threads, so a
        // report can arrive after a later one: never move the bar back.
        bar.set_position(done.max(bar.position()));
    }

    /// Removes the bar, if one was drawn.
    pub fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

/// Time left at the run's average rate so far: the workloads go at a steady
/// rate, and indicatif's own estimate, which weights recent updates, starts
/// from the jump to the position at which the bar first appears and so shows
/// 0 s for the first several seconds.
fn run_eta(elapsed: Duration, done: u64, total: Option<u64>) -> Option<Duration> {
    let total = total?;
    if done == 0 || done > total {
        return None;
    }
    Some(elapsed.mul_f64((total - done) as f64 / done as f64))
}

/// `42s`, `3m05s` or `2h07m`.
fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

/// Columns left free at the right edge of the terminal by the progress bar.
///
/// indicatif pads the bar's line with spaces to the full width, which leaves
/// the cursor in the last column. The terminal's echo of Ctrl-C (`^C`, where
/// the tty has `echoctl`, the default) then wraps onto a new line, and the
/// bar's final clear clears that line instead of the bar's, so the bar stayed
/// on screen above the interrupted run's output.
const EDGE_MARGIN: u16 = 2;

/// stderr as indicatif sees it, [`EDGE_MARGIN`] columns narrower.
#[derive(Debug)]
struct EdgeMargin(Term);

impl TermLike for EdgeMargin {
    fn width(&self) -> u16 {
        self.0.size().1.saturating_sub(EDGE_MARGIN).max(1)
    }
    fn height(&self) -> u16 {
        self.0.size().0
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_up(n)
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_down(n)
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_right(n)
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_left(n)
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.0.write_line(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.0.write_str(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.0.clear_line()
    }
    fn flush(&self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_never_calls_the_writer() {
        let path = std::path::Path::new("out.npy");
        let mut calls = 0;
        for (verified, written) in [(Some(true), true), (None, true), (Some(false), false)] {
            let saved = Saved::save(Some(path), verified, |_| {
                calls += 1;
                Ok(())
            })
            .unwrap();
            assert_eq!(saved.json(), (Some("out.npy".to_string()), written));
            let line = saved.line().unwrap();
            assert_eq!(line.contains("not written"), !written, "{line}");
        }
        assert_eq!(calls, 2);
        let saved = Saved::save(None, Some(false), |_| unreachable!()).unwrap();
        assert_eq!((saved.json(), saved.line()), ((None, false), None));
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(&[
            vec!["A".into(), "BB".into()],
            vec!["ccc".into(), "d".into()],
        ]);
        assert_eq!(t, "A    BB\nccc  d\n");
    }

    #[test]
    fn the_eta_is_the_time_left_at_the_average_rate() {
        let secs = Duration::from_secs;
        assert_eq!(run_eta(secs(10), 25, Some(100)), Some(secs(30)));
        assert_eq!(run_eta(secs(10), 100, Some(100)), Some(secs(0)));
        assert_eq!(run_eta(secs(10), 0, Some(100)), None);
        assert_eq!(run_eta(secs(10), 5, None), None);
        assert_eq!(short_duration(secs(42)), "42s");
        assert_eq!(short_duration(secs(185)), "3m05s");
        assert_eq!(short_duration(secs(7620)), "2h07m");
    }

    #[test]
    fn si_prefixes() {
        assert_eq!(si(1.95e9), "1.950 G");
        assert_eq!(si(12.0), "12.000 ");
        assert_eq!(si(0.0), "0.000 ");
        assert_eq!(si(1e308), "1.000e308 ");
        assert_eq!(si(5e-324), "4.941e-324 ");
    }
}
