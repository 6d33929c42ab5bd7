//! Captured path values: the list of bindings (inline up to four, no allocation) and the
//! once-only percent-decoding of what a path variable captured.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use crate::mapping::template::FieldPath;

/// Bindings held without allocating; templates rarely have more variables than this.
const INLINE_BINDINGS: usize = 4;

/// Placeholder for the unused inline binding slots.
static NO_FIELD_PATH: FieldPath = FieldPath::EMPTY;

/// One captured variable: the field it is bound to and its decoded text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathBinding<'r, 'p> {
    /// The field path of the template variable.
    pub field_path: &'r FieldPath,
    /// The captured text, decoded as the module documentation describes; borrowed when nothing was decoded.
    pub value: Cow<'p, str>,
}

impl PathBinding<'_, '_> {
    fn placeholder() -> Self {
        PathBinding {
            field_path: &NO_FIELD_PATH,
            value: Cow::Borrowed(""),
        }
    }
}

/// The bindings of a match, in template order; up to four are stored inline. Dereferences to a slice.
#[derive(Clone)]
pub struct Bindings<'r, 'p> {
    storage: BindingStorage<'r, 'p>,
}

#[derive(Clone)]
enum BindingStorage<'r, 'p> {
    Inline {
        items: [PathBinding<'r, 'p>; INLINE_BINDINGS],
        len: usize,
    },
    Heap(Vec<PathBinding<'r, 'p>>),
}

impl<'r, 'p> Bindings<'r, 'p> {
    pub(crate) fn new() -> Self {
        Bindings {
            storage: BindingStorage::Inline {
                items: std::array::from_fn(|_| PathBinding::placeholder()),
                len: 0,
            },
        }
    }

    pub(crate) fn push(&mut self, binding: PathBinding<'r, 'p>) {
        match &mut self.storage {
            BindingStorage::Inline { items, len } => {
                if let Some(slot) = items.get_mut(*len) {
                    *slot = binding;
                    *len += 1;
                    return;
                }
                let mut spilled = Vec::with_capacity(INLINE_BINDINGS * 2);
                spilled.extend(
                    items
                        .iter_mut()
                        .map(|item| std::mem::replace(item, PathBinding::placeholder())),
                );
                spilled.push(binding);
                self.storage = BindingStorage::Heap(spilled);
            }
            BindingStorage::Heap(items) => items.push(binding),
        }
    }

    /// Moves the bindings into a `Vec`.
    pub fn into_vec(self) -> Vec<PathBinding<'r, 'p>> {
        match self.storage {
            BindingStorage::Inline { items, len } => items.into_iter().take(len).collect(),
            BindingStorage::Heap(items) => items,
        }
    }
}

impl<'r, 'p> Deref for Bindings<'r, 'p> {
    type Target = [PathBinding<'r, 'p>];

    fn deref(&self) -> &Self::Target {
        match &self.storage {
            BindingStorage::Inline { items, len } => items.get(..*len).unwrap_or(&[]),
            BindingStorage::Heap(items) => items,
        }
    }
}

impl<'a, 'r, 'p> IntoIterator for &'a Bindings<'r, 'p> {
    type Item = &'a PathBinding<'r, 'p>;
    type IntoIter = std::slice::Iter<'a, PathBinding<'r, 'p>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for Bindings<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Bindings<'_, '_> {
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
