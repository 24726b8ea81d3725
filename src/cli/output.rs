//! Text output helpers: aligned tables, number formats and the progress bar.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use console::Term;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

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

/// Refuses an output path that does not end in `.npy`, before any work is done.
pub(crate) fn require_npy(path: Option<&std::path::Path>) -> anyhow::Result<()> {
    match path {
        Some(p) if p.extension().is_none_or(|e| e != "npy") => {
            usage_bail!("{}: the output file must end in .npy", p.display())
        }
        _ => Ok(()),
    }
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
            let template = format!("{{elapsed_precise}} [{{bar:40}}] {{percent:>3}}% {{human_pos}}/{{human_len}} {} (eta {{eta}})", self.unit);
            let style = ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            let target = ProgressDrawTarget::term_like_with_hz(
                Box::new(EdgeMargin(Term::buffered_stderr())),
                20,
            );
            ProgressBar::with_draw_target(Some(total), target).with_style(style)
        });
        bar.set_position(done);
    }

    /// Removes the bar, if one was drawn.
    pub fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
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
    fn table_aligns_columns() {
        let t = table(&[
            vec!["A".into(), "BB".into()],
            vec!["ccc".into(), "d".into()],
        ]);
        assert_eq!(t, "A    BB\nccc  d\n");
    }

    #[test]
    fn si_prefixes() {
        assert_eq!(si(1.95e9), "1.950 G");
        assert_eq!(si(12.0), "12.000 ");
    }
}
