//! Escaping text for HTML and XML (run-state's report page, smoke-test's JUnit
//! file). Hand-written: it is one loop, and the crates that do it (html-escape,
//! quick-xml) would add a dependency to every binary for ten lines, without
//! the control-character rule below.

/// Escapes text for element content and quoted attribute values, valid in
/// both HTML and XML 1.0: `&<>"'` become references (`'` as `&#39;`, which
/// both read), and the control characters XML 1.0 cannot carry at all become
/// U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_every_special_character_and_replaces_control_characters() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(escape("a\u{1}b\tc\nd\re"), "a\u{FFFD}b\tc\nd\re");
        assert_eq!(escape("plain ümlaut"), "plain ümlaut");
    }
}
