//! XML 1.0 name and character rules: which JSON keys are XML names, which characters XML may carry.

/// Why a name is not an XML `NCName` (a name without a colon).
pub(crate) fn ncname_error(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Some("the name is empty");
    };
    if first == ':' || !is_name_start_char(first) {
        return Some("a name must start with a letter or '_'");
    }
    if chars.any(|c| c == ':' || !is_name_char(c)) {
        return Some("the name contains a character not allowed in XML names (or a second ':')");
    }
    None
}

/// Why a name read from a document is not a qualified name (`prefix:local` or `local`, each
/// part an `NCName`).
pub(crate) fn qname_error(name: &str) -> Option<&'static str> {
    match name.split_once(':') {
        Some((prefix, local)) => ncname_error(prefix).or_else(|| ncname_error(local)),
        None => ncname_error(name),
    }
}

/// A name split at its (single) colon: `("p", "local")` or `("", "local")`.
///
/// Both parts are checked to be `NCName`s; `xmlns` as prefix or name is refused, because
/// namespace declarations come from the mapping only.
pub(crate) fn split_qname(name: &str) -> Result<(&str, &str), &'static str> {
    let (prefix, local) = match name.split_once(':') {
        Some((prefix, local)) => {
            if let Some(reason) = ncname_error(prefix) {
                return Err(reason);
            }
            (prefix, local)
        }
        None => ("", name),
    };
    if let Some(reason) = ncname_error(local) {
        return Err(reason);
    }
    if prefix == "xmlns" || (prefix.is_empty() && local == "xmlns") {
        return Err("xmlns is reserved for namespace declarations");
    }
    Ok((prefix, local))
}

fn is_name_start_char(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Whether a character is an XML 1.0 `Char` (tab, LF, CR, U+20–D7FF, E000–FFFD, 10000–10FFFF).
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// The first character of `text` that XML 1.0 does not allow, with its byte index.
///
/// Works on bytes: in UTF-8 only C0 controls and U+FFFE/U+FFFF (`EF BF BE`/`EF BF BF`) can be
/// illegal, because a `str` holds no surrogates.
pub(crate) fn first_illegal_char(text: &str) -> Option<(usize, u32)> {
    let bytes = text.as_bytes();
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte < 0x20 {
            if !matches!(byte, b'\t' | b'\n' | b'\r') {
                return Some((index, u32::from(byte)));
            }
        } else if byte == 0xEF {
            if let (Some(0xBF), Some(&last @ (0xBE | 0xBF))) =
                (bytes.get(index + 1).copied(), bytes.get(index + 2))
            {
                return Some((index, 0xFFC0 | (u32::from(last) & 0x3F)));
            }
        }
        index += 1;
    }
    None
}

/// Whether the text consists of XML whitespace only (space, tab, CR, LF).
pub(crate) fn is_xml_whitespace(text: &[u8]) -> bool {
    text.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ncnames() {
        assert_eq!(ncname_error("order"), None);
        assert_eq!(ncname_error("_x-1.2"), None);
        assert_eq!(ncname_error("été"), None);
        assert_eq!(ncname_error(""), Some("the name is empty"));
        assert_eq!(
            ncname_error("1x"),
            Some("a name must start with a letter or '_'")
        );
        assert_eq!(
            ncname_error("a b"),
            Some("the name contains a character not allowed in XML names (or a second ':')")
        );
        assert!(ncname_error("x\"/><y").is_some());
    }

    #[test]
    fn qnames() {
        assert_eq!(split_qname("m:order"), Ok(("m", "order")));
        assert_eq!(split_qname("order"), Ok(("", "order")));
        assert!(split_qname("a:b:c").is_err());
        assert!(split_qname(":b").is_err());
        assert_eq!(
            split_qname("xmlns:evil"),
            Err("xmlns is reserved for namespace declarations")
        );
        assert_eq!(
            split_qname("xmlns"),
            Err("xmlns is reserved for namespace declarations")
        );
    }

    #[test]
    fn illegal_chars() {
        assert_eq!(first_illegal_char("a\tb\nc\r"), None);
        assert_eq!(first_illegal_char("ab\u{1}"), Some((2, 1)));
        assert_eq!(first_illegal_char("\u{0}"), Some((0, 0)));
        assert_eq!(first_illegal_char("x\u{FFFE}"), Some((1, 0xFFFE)));
        assert_eq!(first_illegal_char("x\u{FFFF}"), Some((1, 0xFFFF)));
        assert_eq!(first_illegal_char("\u{FFFD}€"), None);
        assert!(is_xml_char('\u{10000}'));
        assert!(!is_xml_char('\u{B}'));
    }
}
