//! Character encodings: the raw body is turned into UTF-8 before parsing (RFC 7303 order:
//! byte order mark, then the Content-Type charset, then the XML declaration, then UTF-8).

use std::borrow::Cow;

use encoding_rs::{DecoderResult, Encoding, UTF_16BE, UTF_16LE, UTF_8};

use super::error::XmlError;

/// How far into the document the XML declaration's end `?>` is looked for.
const DECLARATION_WINDOW: usize = 1024;

/// Decodes a raw XML body to UTF-8.
///
/// The encoding comes from the byte order mark (UTF-8, UTF-16LE/BE), else from
/// `content_type_charset` (the `charset` parameter of the Content-Type, if the caller has one),
/// else from the `encoding` of the XML declaration, else UTF-8. Any encoding of the WHATWG
/// Encoding Standard is decoded (`ISO-8859-1` is read as windows-1252, as browsers do);
/// UTF-32, UTF-16 without a byte order mark and unknown labels are refused.
///
/// The result has no byte order mark and, if it was transcoded, its declaration says
/// `encoding="UTF-8"`, so decoding it again is a no-op. Valid UTF-8 input is returned borrowed.
pub fn decode_document<'a>(
    bytes: &'a [u8],
    content_type_charset: Option<&str>,
) -> Result<Cow<'a, [u8]>, XmlError> {
    if let Some((encoding, body)) = sniff_bom(bytes)? {
        return decode_body(bytes.len() - body.len(), body, encoding);
    }
    let encoding = match content_type_charset {
        Some(label) => Some(charset_encoding(label, bytes)?),
        None => None,
    };
    let encoding = match encoding {
        Some(encoding) => encoding,
        None => match declared_label(bytes) {
            Some(label) => declared_encoding(label)?,
            None => {
                if bytes.starts_with(&[b'<', 0]) || bytes.starts_with(&[0, b'<']) {
                    return Err(XmlError::UnsupportedEncoding(
                        "UTF-16 without a byte order mark".into(),
                    ));
                }
                UTF_8
            }
        },
    };
    decode_body(0, bytes, encoding)
}

/// The encoding named by a byte order mark, and the body after it.
fn sniff_bom(bytes: &[u8]) -> Result<Option<(&'static Encoding, &[u8])>, XmlError> {
    if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) || bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Err(XmlError::UnsupportedEncoding("UTF-32".into()));
    }
    Ok(
        if let Some(body) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
            Some((UTF_8, body))
        } else if let Some(body) = bytes.strip_prefix(&[0xFE, 0xFF]) {
            Some((UTF_16BE, body))
        } else {
            bytes
                .strip_prefix(&[0xFF, 0xFE])
                .map(|body| (UTF_16LE, body))
        },
    )
}

/// The encoding named by a Content-Type charset; `utf-16` without a BOM is resolved by
/// looking at how `<` is encoded.
fn charset_encoding(label: &str, bytes: &[u8]) -> Result<&'static Encoding, XmlError> {
    let label = label.trim().trim_matches('"');
    let encoding = lookup(label)?;
    if encoding == UTF_16LE && label.eq_ignore_ascii_case("utf-16") {
        return if bytes.starts_with(&[b'<', 0]) {
            Ok(UTF_16LE)
        } else if bytes.starts_with(&[0, b'<']) {
            Ok(UTF_16BE)
        } else {
            Err(XmlError::UnsupportedEncoding(
                "UTF-16 without a byte order mark".into(),
            ))
        };
    }
    Ok(encoding)
}

/// The encoding named in an ASCII-compatible XML declaration.
fn declared_encoding(label: &str) -> Result<&'static Encoding, XmlError> {
    let encoding = lookup(label)?;
    if encoding == UTF_16LE || encoding == UTF_16BE {
        // A declaration readable as ASCII cannot be UTF-16.
        return Err(XmlError::UnsupportedEncoding(format!(
            "{label} declared, but the document is not UTF-16 (no byte order mark)"
        )));
    }
    Ok(encoding)
}

fn lookup(label: &str) -> Result<&'static Encoding, XmlError> {
    match Encoding::for_label_no_replacement(label.as_bytes()) {
        Some(encoding) => Ok(encoding),
        None => Err(XmlError::UnsupportedEncoding(super::error::shorten(label))),
    }
}

/// The `encoding="…"` value of a leading `<?xml …?>` declaration, if any.
fn declared_label(bytes: &[u8]) -> Option<&str> {
    let declaration = declaration_span(bytes)?;
    let text = std::str::from_utf8(bytes.get(declaration)?).ok()?;
    let value_start = encoding_value_start(text)?;
    let rest = text.get(value_start..)?;
    let quote = rest.chars().next()?;
    let value = rest.get(1..)?;
    value.split(quote).next()
}

/// The bytes `<?xml … ?>` at the very start of the document.
fn declaration_span(bytes: &[u8]) -> Option<std::ops::Range<usize>> {
    let after = bytes.strip_prefix(b"<?xml")?;
    if !after.first().is_some_and(u8::is_ascii_whitespace) {
        return None;
    }
    let window = bytes.get(..DECLARATION_WINDOW.min(bytes.len()))?;
    let end = window.windows(2).position(|w| w == b"?>")?;
    Some(0..end + 2)
}

/// Byte index of the opening quote of the `encoding` pseudo-attribute in a declaration.
fn encoding_value_start(declaration: &str) -> Option<usize> {
    let at = declaration.find("encoding")?;
    let mut index = at + "encoding".len();
    let bytes = declaration.as_bytes();
    while bytes.get(index).is_some_and(u8::is_ascii_whitespace) {
        index += 1;
    }
    if bytes.get(index) != Some(&b'=') {
        return None;
    }
    index += 1;
    while bytes.get(index).is_some_and(u8::is_ascii_whitespace) {
        index += 1;
    }
    matches!(bytes.get(index), Some(b'"' | b'\'')).then_some(index)
}

/// Decodes `body` (which started `offset` bytes into the input) from `encoding` to UTF-8.
fn decode_body<'a>(
    offset: usize,
    body: &'a [u8],
    encoding: &'static Encoding,
) -> Result<Cow<'a, [u8]>, XmlError> {
    if encoding == UTF_8 {
        return match std::str::from_utf8(body) {
            Ok(text) if declares_other_encoding(text) => Ok(Cow::Owned(
                with_utf8_declaration(text.to_owned()).into_bytes(),
            )),
            Ok(_) => Ok(Cow::Borrowed(body)),
            Err(err) => Err(XmlError::BadEncoding {
                encoding: UTF_8.name(),
                offset: offset + err.valid_up_to(),
            }),
        };
    }
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(body.len())
        .ok_or(XmlError::TooLarge {
            limit: usize::MAX,
            size: body.len(),
        })?;
    let mut text = String::with_capacity(capacity);
    let (result, read) = decoder.decode_to_string_without_replacement(body, &mut text, true);
    match result {
        DecoderResult::InputEmpty => Ok(Cow::Owned(with_utf8_declaration(text).into_bytes())),
        DecoderResult::Malformed(bad, after) => Err(XmlError::BadEncoding {
            encoding: encoding.name(),
            offset: offset + read.saturating_sub(usize::from(bad) + usize::from(after)),
        }),
        DecoderResult::OutputFull => Err(XmlError::BadEncoding {
            encoding: encoding.name(),
            offset: offset + read,
        }),
    }
}

/// Whether UTF-8 text carries a declaration naming another encoding.
fn declares_other_encoding(text: &str) -> bool {
    declared_label(text.as_bytes()).is_some_and(|label| {
        !label.eq_ignore_ascii_case("utf-8") && !label.eq_ignore_ascii_case("utf8")
    })
}

/// Rewrites the declaration's encoding to `UTF-8`, so the text describes itself truthfully.
fn with_utf8_declaration(mut text: String) -> String {
    let Some(span) = declaration_span(text.as_bytes()) else {
        return text;
    };
    let Some(start) = text.get(span).and_then(encoding_value_start) else {
        return text;
    };
    let Some(quote) = text.get(start..).and_then(|rest| rest.chars().next()) else {
        return text;
    };
    let Some(length) = text.get(start + 1..).and_then(|rest| rest.find(quote)) else {
        return text;
    };
    text.replace_range(start + 1..start + 1 + length, "UTF-8");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8], charset: Option<&str>) -> Result<String, XmlError> {
        decode_document(bytes, charset)
            .map(|cow| String::from_utf8(cow.into_owned()).unwrap_or_default())
    }

    #[test]
    fn utf8_is_borrowed_and_bom_stripped() {
        assert!(matches!(
            decode_document(b"<r>\xC3\xA9</r>", None),
            Ok(Cow::Borrowed(_))
        ));
        assert_eq!(
            decoded(b"\xEF\xBB\xBF<r>\xC3\xA9</r>", None),
            Ok("<r>é</r>".into())
        );
    }

    #[test]
    fn latin1_and_windows_1252_declarations() {
        assert_eq!(
            decoded(
                b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>caf\xE9</r>",
                None
            ),
            Ok("<?xml version=\"1.0\" encoding=\"UTF-8\"?><r>café</r>".into())
        );
        assert_eq!(
            decoded(
                b"<?xml version='1.0' encoding='windows-1252'?><r>\x80\x93q\x94</r>",
                None
            ),
            Ok("<?xml version='1.0' encoding='UTF-8'?><r>€“q”</r>".into())
        );
    }

    #[test]
    fn utf16_with_bom() {
        let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><r>é€</r>";
        let mut le = vec![0xFF, 0xFE];
        let mut be = vec![0xFE, 0xFF];
        for unit in text.encode_utf16() {
            le.extend_from_slice(&unit.to_le_bytes());
            be.extend_from_slice(&unit.to_be_bytes());
        }
        let expected = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><r>é€</r>".to_owned();
        assert_eq!(decoded(&le, None), Ok(expected.clone()));
        assert_eq!(decoded(&be, None), Ok(expected));
    }

    #[test]
    fn decoding_twice_changes_nothing() {
        let once = decode_document(
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>\xE9</r>",
            None,
        )
        .map(Cow::into_owned);
        let twice = once
            .as_deref()
            .map(|bytes| decode_document(bytes, None).map(Cow::into_owned));
        assert_eq!(twice, Ok(once.clone()));
    }

    #[test]
    fn charset_wins_over_declaration() {
        assert_eq!(
            decoded(b"<r>\x80</r>", Some("windows-1252")),
            Ok("<r>€</r>".into())
        );
        assert_eq!(
            decoded(
                b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>\xC3\xA9</r>",
                Some("utf-8")
            ),
            Ok("<?xml version=\"1.0\" encoding=\"UTF-8\"?><r>é</r>".into())
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            decoded(b"<r>\xE9</r>", None),
            Err(XmlError::BadEncoding {
                encoding: "UTF-8",
                offset: 3
            })
        );
        assert_eq!(
            decoded(b"<?xml version=\"1.0\" encoding=\"x-bogus\"?><r/>", None),
            Err(XmlError::UnsupportedEncoding("x-bogus".into()))
        );
        assert_eq!(
            decoded(b"<?xml version=\"1.0\" encoding=\"UTF-16\"?><r/>", None),
            Err(XmlError::UnsupportedEncoding(
                "UTF-16 declared, but the document is not UTF-16 (no byte order mark)".into()
            ))
        );
        assert_eq!(
            decoded(b"\xFF\xFE\x00\x00<\x00\x00\x00", None),
            Err(XmlError::UnsupportedEncoding("UTF-32".into()))
        );
        assert_eq!(
            decoded(b"<\x00r\x00/\x00>\x00", None),
            Err(XmlError::UnsupportedEncoding(
                "UTF-16 without a byte order mark".into()
            ))
        );
        assert_eq!(
            decoded(b"<r/>", Some("nonsense")),
            Err(XmlError::UnsupportedEncoding("nonsense".into()))
        );
    }
}
