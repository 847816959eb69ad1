//! A report as a list of blocks, rendered to Markdown and to HTML.

use std::fmt::Write as _;

#[derive(Debug, Clone)]
pub enum Block {
    Heading(u8, String),
    Paragraph(String),
    Bullets(Vec<String>),
    Table { headers: Vec<String>, rows: Vec<Vec<String>> },
    Image { path: String, alt: String },
}

#[derive(Debug, Clone, Default)]
pub struct Document {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Document {
    pub fn push(&mut self, block: Block) {
        self.blocks.push(block);
    }

    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n\n", self.title);
        for block in &self.blocks {
            match block {
                Block::Heading(level, text) => {
                    let _ = writeln!(out, "{} {text}\n", "#".repeat(usize::from(*level).clamp(2, 6)));
                }
                Block::Paragraph(text) => {
                    let _ = writeln!(out, "{text}\n");
                }
                Block::Bullets(items) => {
                    for item in items {
                        let _ = writeln!(out, "- {item}");
                    }
                    out.push('\n');
                }
                Block::Table { headers, rows } => {
                    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
                    let _ = writeln!(out, "| {} |", headers.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | "));
                    let _ = writeln!(out, "|{}|", headers.iter().map(|_| "---").collect::<Vec<_>>().join("|"));
                    for row in rows {
                        let _ = writeln!(out, "| {} |", row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
                    }
                    out.push('\n');
                }
                Block::Image { path, alt } => {
                    let _ = writeln!(out, "![{alt}]({path})\n");
                }
            }
        }
        out
    }

    pub fn to_html(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n\
             body {{ font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}\n\
             table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }}\n\
             th, td {{ border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; }}\n\
             th {{ background: #f2f2f2; }}\n img {{ max-width: 100%; }}\n\
             </style>\n</head>\n<body>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        for block in &self.blocks {
            match block {
                Block::Heading(level, text) => {
                    let l = (*level).clamp(2, 6);
                    let _ = writeln!(out, "<h{l}>{}</h{l}>", escape(text));
                }
                Block::Paragraph(text) => {
                    let _ = writeln!(out, "<p>{}</p>", escape(text));
                }
                Block::Bullets(items) => {
                    out.push_str("<ul>\n");
                    for item in items {
                        let _ = writeln!(out, "<li>{}</li>", escape(item));
                    }
                    out.push_str("</ul>\n");
                }
                Block::Table { headers, rows } => {
                    out.push_str("<table>\n<tr>");
                    for h in headers {
                        let _ = write!(out, "<th>{}</th>", escape(h));
                    }
                    out.push_str("</tr>\n");
                    for row in rows {
                        out.push_str("<tr>");
                        for c in row {
                            let _ = write!(out, "<td>{}</td>", escape(c));
                        }
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</table>\n");
                }
                Block::Image { path, alt } => {
                    let _ = writeln!(out, "<p><img src=\"{}\" alt=\"{}\"></p>", escape(path), escape(alt));
                }
            }
        }
        out.push_str("</body>\n</html>\n");
        out
    }
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Document {
        Document {
            title: "Study <x>".into(),
            blocks: vec![
                Block::Heading(2, "Effects".into()),
                Block::Paragraph("a & b".into()),
                Block::Table {
                    headers: vec!["arm".into(), "ate".into()],
                    rows: vec![vec!["a|b".into(), "1.5".into()]],
                },
                Block::Image { path: "forest.png".into(), alt: "forest".into() },
                Block::Bullets(vec!["one".into()]),
            ],
        }
    }

    #[test]
    fn markdown() {
        assert_eq!(
            doc().to_markdown(),
            "# Study <x>\n\n## Effects\n\na & b\n\n| arm | ate |\n|---|---|\n| a\\|b | 1.5 |\n\n![forest](forest.png)\n\n- one\n\n"
        );
    }

    #[test]
    fn html_is_escaped() {
        let html = doc().to_html();
        assert!(html.contains("<h1>Study &lt;x&gt;</h1>"));
        assert!(html.contains("<p>a &amp; b</p>"));
        assert!(html.contains("<td>a|b</td><td>1.5</td>"));
        assert!(html.contains("<img src=\"forest.png\" alt=\"forest\">"));
        assert!(html.ends_with("</html>\n"));
    }
}
