//! Query strings as HTML forms encode them, decoded once for every plan that reads them.

use std::borrow::Cow;

use crate::model::Status;

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
pub(crate) fn form_decode(raw: &str) -> Result<Cow<'_, str>, Status> {
    if !raw.bytes().any(|b| b == b'+' || b == b'%') {
        return Ok(Cow::Borrowed(raw));
    }
    let spaced = raw.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map_err(|_| {
            Status::invalid_argument(format!(
                "query component '{raw}' is not valid UTF-8 once decoded"
            ))
        })?;
    Ok(Cow::Owned(decoded.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_components_decode_plus_and_percent_once() {
        assert_eq!(form_decode("a+b%20c").unwrap(), "a b c");
        assert_eq!(form_decode("%252F").unwrap(), "%2F");
        assert_eq!(form_decode("plain").unwrap(), "plain");
        assert!(form_decode("%FF").is_err());
    }
}
