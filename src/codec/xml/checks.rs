//! Schema checks of request objects (`xml_mapping.checks`, written by the WSDL importer from
//! the XSD): a required element missing, `null` where the element is not nillable, a value
//! outside its enumeration, integer range or date form — each refused naming its JSON path
//! before the request is sent.

use serde_json::Value;

use super::error::XmlError;
use super::mapping::XmlMapping;
use super::options::{DateFormat, ElementCheck};

/// Checks the request object `json`, the content of the root element `root`, against the
/// mapping's checks for that root.
pub fn check_request(json: &[u8], root: &str, mapping: &XmlMapping) -> Result<(), XmlError> {
    let checks = &mapping.inner().checks;
    if !checks.iter().any(|(path, ..)| *path[0] == *root) {
        return Ok(());
    }
    let value: Value = serde_json::from_slice(json).map_err(|e| XmlError::Json(e.to_string()))?;
    let local_names = mapping.inner().drop_prefixes;
    for (path, check, pattern) in checks.iter().filter(|(path, ..)| *path[0] == *root) {
        let walk = Walk {
            check,
            pattern: pattern.as_ref(),
            local_names,
        };
        walk.visit(&value, &path[1..], root.to_owned())?;
    }
    Ok(())
}

/// One check on its way down a request object.
struct Walk<'c> {
    check: &'c ElementCheck,
    pattern: Option<&'c regex::Regex>,
    /// The mapping drops prefixes: `customer` in the JSON is `t:customer` in the path.
    local_names: bool,
}

fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, local)| local)
}

impl Walk<'_> {
    /// The member for the path segment `name`: by its key as written, or by local name.
    fn member<'v>(
        &self,
        members: &'v serde_json::Map<String, Value>,
        name: &str,
    ) -> Option<(&'v String, &'v Value)> {
        members.get_key_value(name).or_else(|| {
            self.local_names
                .then(|| members.iter().find(|(key, _)| local(key) == local(name)))
                .flatten()
        })
    }

    fn visit(&self, value: &Value, rest: &[Box<str>], at: String) -> Result<(), XmlError> {
        let Some((name, below)) = rest.split_first() else {
            return Ok(());
        };
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.visit(item, rest, format!("{at}[{i}]"))?;
                }
                Ok(())
            }
            Value::Object(members) => match self.member(members, name) {
                None if below.is_empty() && self.check.required => {
                    let shown = if self.local_names { local(name) } else { name };
                    Err(violation(
                        format!("{at}/{shown}"),
                        "a required element is missing".into(),
                    ))
                }
                None => Ok(()),
                Some((key, child)) if below.is_empty() => {
                    check_value(child, format!("{at}/{key}"), self.check, self.pattern)
                }
                Some((key, child)) => self.visit(child, below, format!("{at}/{key}")),
            },
            // A parent given as a scalar or null: its children are not there to check.
            _ => Ok(()),
        }
    }
}

fn check_value(
    value: &Value,
    at: String,
    check: &ElementCheck,
    pattern: Option<&regex::Regex>,
) -> Result<(), XmlError> {
    if let Value::Array(items) = value {
        for (i, item) in items.iter().enumerate() {
            check_value(item, format!("{at}[{i}]"), check, pattern)?;
        }
        return Ok(());
    }
    let text = match value {
        Value::Null if !check.nillable => {
            return Err(violation(
                at,
                "null, but the element is not nillable".into(),
            ))
        }
        Value::Null | Value::Object(_) | Value::Bool(_) => return Ok(()),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) => return Ok(()),
    };
    if !check.enumeration.is_empty() && !check.enumeration.contains(&text) {
        return Err(violation(
            at,
            format!(
                "{} is not one of the values the schema allows ({})",
                quoted(&text),
                check.enumeration.join(", ")
            ),
        ));
    }
    if check.min.is_some() || check.max.is_some() {
        let number: i128 = text
            .trim()
            .parse()
            .map_err(|_| violation(at.clone(), format!("{} is not an integer", quoted(&text))))?;
        if let Some(min) = check.min.filter(|min| number < i128::from(*min)) {
            return Err(violation(
                at,
                format!("{number} is below the minimum {min}"),
            ));
        }
        if let Some(max) = check.max.filter(|max| number > i128::from(*max)) {
            return Err(violation(
                at,
                format!("{number} is above the maximum {max}"),
            ));
        }
    }
    if let Some(pattern) = pattern.filter(|p| !p.is_match(&text)) {
        let written = check.pattern.as_deref().unwrap_or_else(|| pattern.as_str());
        return Err(violation(
            at,
            format!("{} does not match the pattern {written}", quoted(&text)),
        ));
    }
    if let Some(format) = check.format {
        if !matches_format(text.trim(), format) {
            let form = match format {
                DateFormat::Date => "a date such as 2026-12-05",
                DateFormat::DateTime => "a date and time such as 2026-12-05T09:30:00Z",
                DateFormat::Time => "a time such as 09:30:00",
            };
            return Err(violation(at, format!("{} is not {form}", quoted(&text))));
        }
    }
    Ok(())
}

fn violation(at: String, reason: String) -> XmlError {
    XmlError::SchemaViolation { at, reason }
}

fn quoted(text: &str) -> String {
    let shown: String = text.chars().take(64).collect();
    format!("{shown:?}")
}

/// The XSD lexical forms, without calendar arithmetic beyond month and day ranges.
fn matches_format(text: &str, format: DateFormat) -> bool {
    match format {
        DateFormat::Date => zone(text, 10).is_some_and(is_date),
        DateFormat::DateTime => text
            .split_once('T')
            .is_some_and(|(date, time)| is_date(date) && zone(time, 8).is_some_and(is_time)),
        DateFormat::Time => zone(text, 8).is_some_and(is_time),
    }
}

/// `text` without a trailing zone (`Z`, `+hh:mm`, `-hh:mm`) after at least `min` characters.
fn zone(text: &str, min: usize) -> Option<&str> {
    if let Some(rest) = text.strip_suffix('Z') {
        return Some(rest);
    }
    if text.len() > min + 5 {
        let (head, tail) = text.split_at(text.len() - 6);
        let b = tail.as_bytes();
        if matches!(b[0], b'+' | b'-') && b[3] == b':' && digits(&tail[1..3]) && digits(&tail[4..6])
        {
            return Some(head);
        }
    }
    Some(text)
}

fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn is_date(text: &str) -> bool {
    let text = text.strip_prefix('-').unwrap_or(text);
    let mut parts = text.splitn(3, '-');
    let (Some(year), Some(month), Some(day)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    year.len() >= 4
        && digits(year)
        && month.len() == 2
        && day.len() == 2
        && matches!(month.parse::<u8>(), Ok(1..=12))
        && matches!(day.parse::<u8>(), Ok(1..=31))
}

fn is_time(text: &str) -> bool {
    let (main, fraction) = match text.split_once('.') {
        Some((main, fraction)) => (main, Some(fraction)),
        None => (text, None),
    };
    let mut parts = main.splitn(3, ':');
    let (Some(h), Some(m), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    [h, m, s].iter().all(|p| p.len() == 2 && digits(p))
        && matches!(h.parse::<u8>(), Ok(0..=24))
        && matches!(m.parse::<u8>(), Ok(0..=59))
        && matches!(s.parse::<u8>(), Ok(0..=60))
        && fraction.is_none_or(digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::xml::XmlMappingConfig;

    fn mapping(checks: &[(&str, ElementCheck)]) -> XmlMapping {
        let config = XmlMappingConfig {
            checks: checks
                .iter()
                .map(|(p, c)| ((*p).to_owned(), c.clone()))
                .collect(),
            ..XmlMappingConfig::default()
        };
        XmlMapping::new(&config).unwrap()
    }

    fn check(json: &str, mapping: &XmlMapping) -> Result<(), String> {
        check_request(json.as_bytes(), "Order", mapping).map_err(|e| e.to_string())
    }

    #[test]
    fn each_kind_of_violation_names_its_path() {
        let m = mapping(&[
            (
                "Order/customer",
                ElementCheck {
                    required: true,
                    nillable: false,
                    ..ElementCheck::default()
                },
            ),
            (
                "Order/line/qty",
                ElementCheck {
                    required: true,
                    min: Some(1),
                    max: Some(99),
                    ..ElementCheck::default()
                },
            ),
            (
                "Order/status",
                ElementCheck {
                    enumeration: vec!["NEW".into(), "PAID".into()],
                    ..ElementCheck::default()
                },
            ),
            (
                "Order/due",
                ElementCheck {
                    format: Some(DateFormat::Date),
                    ..ElementCheck::default()
                },
            ),
        ]);
        assert_eq!(
            check(
                r#"{"customer":"Ada","line":[{"qty":2}],"status":"NEW","due":"2026-12-05"}"#,
                &m
            ),
            Ok(())
        );
        assert_eq!(
            check(r#"{"line":[]}"#, &m).unwrap_err(),
            "Order/customer: a required element is missing"
        );
        assert_eq!(
            check(r#"{"customer":null}"#, &m).unwrap_err(),
            "Order/customer: null, but the element is not nillable"
        );
        assert_eq!(
            check(r#"{"customer":"A","line":[{"qty":2},{}]}"#, &m).unwrap_err(),
            "Order/line[1]/qty: a required element is missing"
        );
        assert_eq!(
            check(r#"{"customer":"A","line":{"qty":"100"}}"#, &m).unwrap_err(),
            "Order/line/qty: 100 is above the maximum 99"
        );
        assert_eq!(
            check(r#"{"customer":"A","status":"LOST"}"#, &m).unwrap_err(),
            "Order/status: \"LOST\" is not one of the values the schema allows (NEW, PAID)"
        );
        assert_eq!(
            check(r#"{"customer":"A","due":"2026-13-01"}"#, &m).unwrap_err(),
            "Order/due: \"2026-13-01\" is not a date such as 2026-12-05"
        );
        assert_eq!(
            check_request(b"{}", "Other", &m).map_err(|e| e.to_string()),
            Ok(())
        );
    }

    #[test]
    fn patterns_match_whole_values() {
        let m = mapping(&[(
            "Order/sku",
            ElementCheck {
                pattern: Some(r"[A-Z]{3}-\d{4}".into()),
                ..ElementCheck::default()
            },
        )]);
        assert_eq!(check(r#"{"sku":"CUP-1001"}"#, &m), Ok(()));
        assert_eq!(
            check(r#"{"sku":"xCUP-1001"}"#, &m).unwrap_err(),
            r#"Order/sku: "xCUP-1001" does not match the pattern [A-Z]{3}-\d{4}"#
        );
        let bad = XmlMappingConfig {
            checks: [(
                "Order/sku".to_owned(),
                ElementCheck {
                    pattern: Some("(".into()),
                    ..ElementCheck::default()
                },
            )]
            .into(),
            ..XmlMappingConfig::default()
        };
        assert!(XmlMapping::new(&bad).is_err());
    }

    #[test]
    fn date_and_time_forms() {
        assert!(matches_format("2026-12-05Z", DateFormat::Date));
        assert!(matches_format("2026-12-05+01:00", DateFormat::Date));
        assert!(matches_format(
            "2026-12-05T09:30:00.123-05:00",
            DateFormat::DateTime
        ));
        assert!(matches_format("09:30:00", DateFormat::Time));
        assert!(!matches_format("2026-12-05 09:30:00", DateFormat::DateTime));
        assert!(!matches_format("9:30", DateFormat::Time));
    }
}
