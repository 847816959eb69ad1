//! How a command's error reaches the terminal: one `error: ` line (or the
//! study file's own list of `error: ` lines), each cause said once.

/// The error as printed, without the trailing newline.
///
/// Causes are joined with `: ` like anyhow's `{:#}`, except that a cause
/// whose text already ends what is printed is left out: an error type that
/// shows its `source` in its own message (`{path}: {source}`, the thiserror
/// habit of the data and analysis crates) would otherwise repeat it, as in
/// "x: No such file or directory (os error 2): No such file or directory (os
/// error 2)".
pub fn render(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    // Study-file errors already start with `error: `; a message that got
    // the prefix from elsewhere as well keeps one.
    let mut body = text.as_str();
    while let Some(rest) = body.strip_prefix("error: ") {
        body = rest;
    }
    format!("error: {body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of `intervene_data::Error::Io`: its message shows its source.
    #[derive(Debug)]
    struct ShowsSource(std::io::Error);

    impl std::fmt::Display for ShowsSource {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "data/x.parquet: {}", self.0)
        }
    }

    impl std::error::Error for ShowsSource {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    fn not_found() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::NotFound)
    }

    #[test]
    fn a_source_shown_in_its_parent_message_is_printed_once() {
        let err = anyhow::Error::new(ShowsSource(not_found())).context("loading the data");
        let io = not_found().to_string();
        assert_eq!(render(&err), format!("error: loading the data: data/x.parquet: {io}"));
    }

    #[test]
    fn causes_that_add_something_are_all_kept() {
        let err = anyhow::Error::new(not_found()).context("reading a.toml");
        assert_eq!(render(&err), format!("error: reading a.toml: {}", not_found()));
    }

    #[test]
    fn the_error_prefix_is_printed_once() {
        let list =
            anyhow::anyhow!("error: a.toml:1:1: missing section [data]\nerror: a.toml:1:1: missing section [model]");
        assert_eq!(
            render(&list),
            "error: a.toml:1:1: missing section [data]\nerror: a.toml:1:1: missing section [model]"
        );
        let doubled = anyhow::anyhow!("error: error: bad");
        assert_eq!(render(&doubled), "error: bad");
        assert_eq!(render(&anyhow::anyhow!("bad")), "error: bad");
    }
}
