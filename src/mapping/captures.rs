//! Captured path values: the list of bindings (inline up to four, no allocation) and the
//! once-only percent-decoding of what a path variable captured.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use crate::mapping::template::FieldPath;

/// Captures held without allocating; templates rarely have more variables than this.
const INLINE_BINDINGS: usize = 4;

/// Placeholder for the unused inline binding slots.
static NO_FIELD_PATH: FieldPath = FieldPath::EMPTY;

/// One captured variable: the field it is bound to and its decoded text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture<'r, 'p> {
    /// The field path of the template variable.
    pub field_path: &'r FieldPath,
    /// The captured text, decoded as the module documentation describes; borrowed when nothing was decoded.
    pub value: Cow<'p, str>,
}

impl Capture<'_, '_> {
    fn placeholder() -> Self {
        Capture {
            field_path: &NO_FIELD_PATH,
            value: Cow::Borrowed(""),
        }
    }
}

/// The bindings of a match, in template order; up to four are stored inline. Dereferences to a slice.
#[derive(Clone)]
pub struct Captures<'r, 'p> {
    storage: CaptureStorage<'r, 'p>,
}

#[derive(Clone)]
enum CaptureStorage<'r, 'p> {
    Inline {
        items: [Capture<'r, 'p>; INLINE_BINDINGS],
        len: usize,
    },
    Heap(Vec<Capture<'r, 'p>>),
}

impl<'r, 'p> Captures<'r, 'p> {
    pub(crate) fn new() -> Self {
        Captures {
            storage: CaptureStorage::Inline {
                items: std::array::from_fn(|_| Capture::placeholder()),
                len: 0,
            },
        }
    }

    pub(crate) fn push(&mut self, binding: Capture<'r, 'p>) {
        match &mut self.storage {
            CaptureStorage::Inline { items, len } => {
                if let Some(slot) = items.get_mut(*len) {
                    *slot = binding;
                    *len += 1;
                    return;
                }
                let mut spilled = Vec::with_capacity(INLINE_BINDINGS * 2);
                spilled.extend(
                    items
                        .iter_mut()
                        .map(|item| std::mem::replace(item, Capture::placeholder())),
                );
                spilled.push(binding);
                self.storage = CaptureStorage::Heap(spilled);
            }
            CaptureStorage::Heap(items) => items.push(binding),
        }
    }

    /// Moves the bindings into a `Vec`.
    pub fn into_vec(self) -> Vec<Capture<'r, 'p>> {
        match self.storage {
            CaptureStorage::Inline { items, len } => items.into_iter().take(len).collect(),
            CaptureStorage::Heap(items) => items,
        }
    }
}

impl<'r, 'p> Deref for Captures<'r, 'p> {
    type Target = [Capture<'r, 'p>];

    fn deref(&self) -> &Self::Target {
        match &self.storage {
            CaptureStorage::Inline { items, len } => items.get(..*len).unwrap_or(&[]),
            CaptureStorage::Heap(items) => items,
        }
    }
}

impl<'a, 'r, 'p> IntoIterator for &'a Captures<'r, 'p> {
    type Item = &'a Capture<'r, 'p>;
    type IntoIter = std::slice::Iter<'a, Capture<'r, 'p>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for Captures<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Captures<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Splits a valid `%XX` escape off the bytes after a `%`: (decoded byte, the two hex digits, the rest).
fn split_escape(after_percent: &[u8]) -> Option<(u8, [u8; 2], &[u8])> {
    let [high, low, rest @ ..] = after_percent else {
        return None;
    };
    let value = hex_value(*high)? << 4 | hex_value(*low)?;
    Some((value, [*high, *low], rest))
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `raw` once, keeping `%2F` encoded when `keep_encoded_slash`; `None` if the result is not UTF-8.
pub(crate) fn decode_captured(raw: &str, keep_encoded_slash: bool) -> Option<Cow<'_, str>> {
    let decodes = |value: u8| !(keep_encoded_slash && value == b'/');
    let mut scan = raw.as_bytes();
    let mut needs_decoding = false;
    while let Some(percent) = scan.iter().position(|&byte| byte == b'%') {
        let after = scan.get(percent + 1..).unwrap_or_default();
        match split_escape(after) {
            Some((value, _, _)) if decodes(value) => {
                needs_decoding = true;
                break;
            }
            Some((_, _, rest)) => scan = rest,
            None => scan = after,
        }
    }
    if !needs_decoding {
        return Some(Cow::Borrowed(raw));
    }
    let mut decoded = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        if byte == b'%' {
            if let Some((value, digits, after)) = split_escape(tail) {
                if decodes(value) {
                    decoded.push(value);
                } else {
                    decoded.push(b'%');
                    decoded.extend_from_slice(&digits);
                }
                rest = after;
                continue;
            }
        }
        decoded.push(byte);
    }
    String::from_utf8(decoded).ok().map(Cow::Owned)
}
