//! Tests for the path-template parser.

use proptest::prelude::*;

use super::*;

fn parse(text: &str) -> PathTemplate {
    match PathTemplate::parse(text) {
        Ok(template) => template,
        Err(error) => panic!("{error}"),
    }
}

fn problem(text: &str) -> TemplateProblem {
    match PathTemplate::parse(text) {
        Ok(template) => panic!("{text} parsed as {template:?}"),
        Err(error) => {
            assert_eq!(error.template(), text);
            error.problem().clone()
        }
    }
}

fn message(text: &str) -> String {
    match PathTemplate::parse(text) {
        Ok(template) => panic!("{text} parsed as {template:?}"),
        Err(error) => error.to_string(),
    }
}

fn lit(text: &str) -> Segment {
    Segment::Literal(text.to_owned())
}

/// `(field path, start, end, ends with **)` for each variable.
fn variables(template: &PathTemplate) -> Vec<(String, usize, usize, bool)> {
    template
        .variables()
        .iter()
        .map(|v| {
            (
                v.field_path.to_string(),
                v.start_segment,
                v.end_segment,
                v.ends_with_double_wildcard,
            )
        })
        .collect()
}

#[test]
fn parses_literals_and_a_simple_variable() {
    let template = parse("/v1/shelves/{shelf}");
    assert_eq!(template.as_str(), "/v1/shelves/{shelf}");
    assert_eq!(
        template.segments(),
        [lit("v1"), lit("shelves"), Segment::Wildcard]
    );
    assert_eq!(variables(&template), [("shelf".to_owned(), 2, 3, false)]);
    assert_eq!(template.verb(), None);
    assert!(template.variables()[0].is_single_segment());
}

#[test]
fn parses_a_multi_segment_variable() {
    let template = parse("/v1/{name=shelves/*/books/*}");
    assert_eq!(
        template.segments(),
        [
            lit("v1"),
            lit("shelves"),
            Segment::Wildcard,
            lit("books"),
            Segment::Wildcard
        ]
    );
    assert_eq!(variables(&template), [("name".to_owned(), 1, 5, false)]);
    assert!(!template.variables()[0].is_single_segment());
}

#[test]
fn parses_double_wildcard_variable() {
    let template = parse("/v1/{name=**}");
    assert_eq!(template.segments(), [lit("v1"), Segment::DoubleWildcard]);
    assert_eq!(variables(&template), [("name".to_owned(), 1, 2, true)]);
    assert!(!template.variables()[0].is_single_segment());
    assert_eq!(
        parse("/v1/**:verb").segments(),
        [lit("v1"), Segment::DoubleWildcard]
    );
    assert_eq!(parse("/v1/**:verb").verb(), Some("verb"));
}

#[test]
fn parses_verbs() {
    let template = parse("/v1/{name=messages/*}:cancel");
    assert_eq!(
        template.segments(),
        [lit("v1"), lit("messages"), Segment::Wildcard]
    );
    assert_eq!(template.verb(), Some("cancel"));
    assert_eq!(variables(&template), [("name".to_owned(), 1, 3, false)]);

    let template = parse("/v1/*:verb:sub");
    assert_eq!(template.segments(), [lit("v1"), Segment::Wildcard]);
    assert_eq!(template.verb(), Some("verb:sub"));

    let template = parse("/v1/things:batchGet");
    assert_eq!(template.segments(), [lit("v1"), lit("things")]);
    assert_eq!(template.verb(), Some("batchGet"));

    let template = parse("/v1/things:custom:sub");
    assert_eq!(template.segments(), [lit("v1"), lit("things")]);
    assert_eq!(template.verb(), Some("custom:sub"));
}

#[test]
fn colon_in_a_literal_that_is_not_last_is_literal_text() {
    let template = parse("/v1/a:b/{id}");
    assert_eq!(
        template.segments(),
        [lit("v1"), lit("a:b"), Segment::Wildcard]
    );
    assert_eq!(template.verb(), None);
    let template = parse("/v1/{name=ns:x/*}");
    assert_eq!(
        template.segments(),
        [lit("v1"), lit("ns:x"), Segment::Wildcard]
    );
}

#[test]
fn parses_nested_field_paths() {
    let template = parse("/v1/{book.shelf.id}/{book.id=books/*}");
    let field_path = &template.variables()[0].field_path;
    assert_eq!(field_path.segments(), ["book", "shelf", "id"]);
    assert_eq!(field_path.to_string(), "book.shelf.id");
    assert_eq!(
        variables(&template),
        [
            ("book.shelf.id".to_owned(), 1, 2, false),
            ("book.id".to_owned(), 2, 4, false)
        ]
    );
}

#[test]
fn literal_escapes_are_decoded_and_display_reencodes_them() {
    let template = parse("/v1/shel%76es/a%2Fb/%zz");
    assert_eq!(
        template.segments(),
        [lit("v1"), lit("shelves"), lit("a/b"), lit("%zz")]
    );
    assert_eq!(template.to_string(), "/v1/shelves/a%2Fb/%25zz");
    assert_eq!(parse(&template.to_string()), template);
}

#[test]
fn display_is_canonical() {
    assert_eq!(parse("/v1/{id=*}").to_string(), "/v1/{id}");
    assert_eq!(
        parse("/v1/{name=shelves/*/books/*}:move").to_string(),
        "/v1/{name=shelves/*/books/*}:move"
    );
    assert_eq!(parse("/v1/*:verb:sub").to_string(), "/v1/*:verb:sub");
    assert_eq!(parse("/v1/a:b/c").to_string(), "/v1/a%3Ab/c");
    assert_eq!(parse("/{a}/x/{b=**}").to_string(), "/{a}/x/{b=**}");
    assert_eq!(parse("/v1/{id=*}"), parse("/v1/{id}"));
    assert_ne!(parse("/v1/{id}"), parse("/v1/{name}"));
}

#[test]
fn rejects_missing_leading_slash() {
    assert_eq!(problem("v1/things"), TemplateProblem::MissingLeadingSlash);
    assert_eq!(problem(""), TemplateProblem::MissingLeadingSlash);
    assert_eq!(
        message("v1"),
        "invalid path template \"v1\": a template must start with '/'"
    );
}

#[test]
fn rejects_unclosed_brace() {
    assert_eq!(
        message("/v1/{name=shelves/*"),
        "invalid path template \"/v1/{name=shelves/*\": unclosed '{' at offset 4"
    );
    assert_eq!(
        problem("/v1/{name"),
        TemplateProblem::UnclosedBrace { offset: 4 }
    );
}

#[test]
fn rejects_unmatched_close_brace() {
    assert_eq!(
        problem("/v1/a}"),
        TemplateProblem::UnmatchedCloseBrace { offset: 5 }
    );
    assert_eq!(
        problem("/v1/*}"),
        TemplateProblem::UnmatchedCloseBrace { offset: 5 }
    );
}

#[test]
fn rejects_nested_variables() {
    assert_eq!(
        message("/v1/{name=shelves/{id}}"),
        "invalid path template \"/v1/{name=shelves/{id}}\": nested variable at offset 18: \
         variables cannot contain variables"
    );
}

#[test]
fn rejects_bad_field_paths() {
    assert_eq!(
        problem("/v1/{}"),
        TemplateProblem::EmptyFieldPath { offset: 5 }
    );
    assert_eq!(
        problem("/v1/{=*}"),
        TemplateProblem::EmptyFieldPath { offset: 5 }
    );
    assert_eq!(
        message("/v1/{1abc}"),
        "invalid path template \"/v1/{1abc}\": invalid field path \"1abc\" at offset 5: \
         a field name must start with a letter or '_'"
    );
    assert_eq!(
        problem("/v1/{a..b}"),
        TemplateProblem::InvalidFieldPath {
            field_path: "a..b".to_owned(),
            offset: 5,
            reason: "a field name between dots is empty",
        }
    );
    assert_eq!(
        problem("/v1/{a-b}"),
        TemplateProblem::InvalidFieldPath {
            field_path: "a-b".to_owned(),
            offset: 5,
            reason: "a field name may only contain letters, digits and '_'",
        }
    );
}

#[test]
fn rejects_a_field_path_bound_twice() {
    assert_eq!(
        message("/v1/{a.b}/x/{a.b=y/*}"),
        "invalid path template \"/v1/{a.b}/x/{a.b=y/*}\": field path \"a.b\" is bound twice (again at offset 12)"
    );
}

#[test]
fn rejects_empty_segments() {
    assert_eq!(problem("/"), TemplateProblem::EmptySegment { offset: 1 });
    assert_eq!(
        problem("/v1//a"),
        TemplateProblem::EmptySegment { offset: 4 }
    );
    assert_eq!(problem("/v1/"), TemplateProblem::EmptySegment { offset: 4 });
    assert_eq!(
        problem("/v1/{name=}"),
        TemplateProblem::EmptySegment { offset: 10 }
    );
    assert_eq!(
        problem("/v1/{name=a//b}"),
        TemplateProblem::EmptySegment { offset: 12 }
    );
    assert_eq!(
        problem("/v1/:verb"),
        TemplateProblem::EmptySegment { offset: 4 }
    );
}

#[test]
fn rejects_empty_verbs() {
    assert_eq!(
        message("/v1/things:"),
        "invalid path template \"/v1/things:\": empty verb at offset 10"
    );
    assert_eq!(problem("/v1/*:"), TemplateProblem::EmptyVerb { offset: 5 });
    assert_eq!(
        problem("/v1/{id}:"),
        TemplateProblem::EmptyVerb { offset: 8 }
    );
}

#[test]
fn rejects_anything_after_double_wildcard() {
    assert_eq!(
        message("/v1/**/x"),
        "invalid path template \"/v1/**/x\": '**' at offset 4 must be the last segment (only a verb may follow it)"
    );
    assert_eq!(
        problem("/v1/{name=**}/x"),
        TemplateProblem::DoubleWildcardNotLast { offset: 10 }
    );
    assert_eq!(
        problem("/v1/{name=**/x}"),
        TemplateProblem::DoubleWildcardNotLast { offset: 10 }
    );
    assert_eq!(
        problem("/v1/**x"),
        TemplateProblem::DoubleWildcardNotLast { offset: 4 }
    );
}

#[test]
fn rejects_partial_segment_wildcards_and_variables() {
    assert_eq!(
        message("/v1/a*"),
        "invalid path template \"/v1/a*\": unexpected '*' at offset 5, expected '/', ':' or the end of the template"
    );
    assert_eq!(
        problem("/v1/*a"),
        TemplateProblem::UnexpectedChar {
            found: 'a',
            offset: 5,
            expected: "'/', ':' or the end of the template",
        }
    );
    assert_eq!(
        problem("/v1/{a}{b}"),
        TemplateProblem::UnexpectedChar {
            found: '{',
            offset: 7,
            expected: "'/', ':' or the end of the template",
        }
    );
    assert_eq!(
        problem("/v1/{n=*a}"),
        TemplateProblem::UnexpectedChar {
            found: 'a',
            offset: 8,
            expected: "'/' or '}'",
        }
    );
    assert_eq!(
        problem("/v1/*:a/b"),
        TemplateProblem::UnexpectedChar {
            found: '/',
            offset: 7,
            expected: "a verb without '/', '{', '}' or '*'",
        }
    );
}

#[test]
fn rejects_literals_that_are_not_utf8() {
    assert_eq!(
        problem("/v1/%FF"),
        TemplateProblem::InvalidUtf8 { offset: 4 }
    );
    assert_eq!(
        problem("/v1/*:%C3"),
        TemplateProblem::InvalidUtf8 { offset: 6 }
    );
}

#[test]
fn rejects_too_many_segments() {
    let ok = "/a".repeat(MAX_SEGMENTS);
    assert_eq!(parse(&ok).segments().len(), MAX_SEGMENTS);
    assert_eq!(
        problem(&format!("{ok}/a")),
        TemplateProblem::TooManySegments
    );
}

/// A template segment as the property test generates it.
#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Wildcard,
    Variable(String, Vec<Option<String>>),
}

fn part() -> impl Strategy<Value = Part> {
    let literal = "([a-zA-Z0-9._~=+!$&'()-]|%2F|%41|%25|é|:| ){1,6}";
    prop_oneof![
        literal.prop_map(Part::Literal),
        Just(Part::Wildcard),
        (
            "[a-z_]{1,4}(\\.[a-z_]{1,4}){0,2}",
            prop::collection::vec(prop::option::of(literal), 0..3)
        )
            .prop_map(|(field_path, inner)| Part::Variable(field_path, inner)),
    ]
}

fn template_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(part(), 1..6),
        prop::option::of(prop_oneof![
            Just("**".to_owned()),
            Just("{rest=a/**}".to_owned())
        ]),
        prop::option::of("[a-zA-Z:]{1,6}"),
    )
        .prop_map(|(parts, tail, verb)| {
            let mut text = String::new();
            for (index, part) in parts.iter().enumerate() {
                text.push('/');
                match part {
                    // A ':' in the last literal would start the verb; keep the generated literal whole.
                    Part::Literal(literal) if index + 1 == parts.len() && tail.is_none() => {
                        text.push_str(&literal.replace(':', "%3A"))
                    }
                    Part::Literal(literal) => text.push_str(literal),
                    Part::Wildcard => text.push('*'),
                    Part::Variable(field_path, inner) => {
                        // The index suffix keeps field paths distinct.
                        text.push_str(&format!("{{{field_path}_v{index}"));
                        if !inner.is_empty() {
                            let inner: Vec<&str> =
                                inner.iter().map(|s| s.as_deref().unwrap_or("*")).collect();
                            text.push('=');
                            text.push_str(&inner.join("/"));
                        }
                        text.push('}');
                    }
                }
            }
            if let Some(tail) = tail {
                text.push('/');
                text.push_str(&tail);
            }
            if let Some(verb) = verb {
                text.push(':');
                text.push_str(&verb);
            }
            text
        })
}

proptest! {
    #[test]
    fn display_round_trips(text in template_text()) {
        let template = PathTemplate::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let printed = template.to_string();
        let reparsed = PathTemplate::parse(&printed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&reparsed, &template);
        prop_assert_eq!(reparsed.to_string(), printed);
    }

    #[test]
    fn arbitrary_text_parses_or_fails_with_the_template_named(text in "[/{}*:=.a-c%2F ]{0,16}") {
        if let Err(error) = PathTemplate::parse(&text) {
            prop_assert_eq!(error.template(), text.as_str());
            let prefix = format!("invalid path template {text:?}: ");
            prop_assert!(error.to_string().starts_with(&prefix));
        } else {
            prop_assert!(text.starts_with('/'));
        }
    }
}
