//! XML → JSON bookkeeping for open elements: where each child's value goes in the output, how
//! repeated children become arrays, and how an element's JSON value is finished.
//!
//! Values are written straight into the output in document order. Adjacent repeats only need a
//! `[` inserted before the first value (a move of that one value). A repeat that is *not*
//! adjacent (`a, b, a`) switches the parent to "interleaved": later child values are appended as
//! detached segments, and when the parent closes its content is regrouped once through a scratch
//! buffer. Memory stays proportional to the input; nothing but open elements is kept.

use std::collections::HashMap;
use std::ops::Range;

use super::error::{shorten, XmlError};
use super::mapping::{first_value_type, Inner};
use super::names::is_xml_whitespace;
use super::options::ValueType;
use super::scalars::write_scalar;

/// Above this many distinct children an element looks its children up through a hash map.
const LINEAR_LOOKUP_LIMIT: usize = 16;

/// One open element.
pub(super) struct Frame {
    /// Its JSON key, in `keys` (for error paths).
    pub(super) key: Range<usize>,
    /// Its position in an array, when known to be one (for error paths).
    pub(super) index: Option<u32>,
    /// Its path-trie states, in `states`.
    pub(super) states: Range<usize>,
    pub(super) members_start: usize,
    pub(super) segments_start: usize,
    pub(super) keys_start: usize,
    pub(super) text_start: usize,
    /// Start of the text since the last child element.
    pub(super) piece_start: usize,
    pub(super) value_type: Option<ValueType>,
    /// Output offset just after `{`, once the value is known to be an object.
    pub(super) object: Option<usize>,
    /// Output offset after the attributes.
    pub(super) attrs_end: usize,
    /// Whether a member was written (so the next one needs a comma).
    pub(super) has_entries: bool,
    pub(super) nil: bool,
    pub(super) interleaved: bool,
    /// When the parent is interleaved: the parent's member this value belongs to.
    pub(super) segment_of: Option<usize>,
    /// Output offset where this element's value starts.
    pub(super) value_start: usize,
    /// Whether the last entry of `index_maps` belongs to this element.
    has_index_map: bool,
}

/// One distinct child key of an open element.
struct Member {
    key: Range<usize>,
    /// Values written in place (without brackets); empty for members first seen interleaved.
    items: Range<usize>,
    count: u32,
    forced: bool,
}

impl Member {
    fn is_array(&self) -> bool {
        self.forced || self.count > 1
    }
}

/// A child value written after its parent became interleaved.
struct Segment {
    member: usize,
    range: Range<usize>,
}

/// State of one XML → JSON conversion.
pub(super) struct Converter<'m, 'o> {
    pub(super) mapping: &'m Inner,
    pub(super) out: &'o mut Vec<u8>,
    pub(super) frames: Vec<Frame>,
    members: Vec<Member>,
    segments: Vec<Segment>,
    pub(super) keys: Vec<u8>,
    pub(super) text: Vec<u8>,
    pub(super) states: Vec<u32>,
    scratch: Vec<u8>,
    /// Child lookup tables of open elements with many children, innermost last.
    index_maps: Vec<HashMap<Box<[u8]>, usize>>,
    /// The key of the element being opened.
    pub(super) key_buf: String,
}

impl<'m, 'o> Converter<'m, 'o> {
    pub(super) fn new(mapping: &'m Inner, out: &'o mut Vec<u8>) -> Self {
        Self {
            mapping,
            out,
            frames: Vec::with_capacity(16),
            members: Vec::with_capacity(32),
            segments: Vec::new(),
            keys: Vec::with_capacity(256),
            text: Vec::with_capacity(256),
            states: vec![super::paths::PathTrie::ROOT],
            scratch: Vec::new(),
            index_maps: Vec::new(),
            key_buf: String::with_capacity(64),
        }
    }

    /// JSON key path of the innermost open element, e.g. `m:orders/m:order[2]/id`.
    pub(super) fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.frames {
            if !path.is_empty() {
                path.push('/');
            }
            let key = self.keys.get(frame.key.clone()).unwrap_or_default();
            path.push_str(&String::from_utf8_lossy(key));
            if let Some(index) = frame.index {
                path.push_str(&format!("[{index}]"));
            }
        }
        if path.is_empty() {
            path.push_str("(root)");
        }
        path
    }

    /// Pushes the frame of a new element whose key is in `key_buf` and whose states were just
    /// appended from `states_start`.
    pub(super) fn push_frame(
        &mut self,
        key: Range<usize>,
        index: Option<u32>,
        states_start: usize,
        segment_of: Option<usize>,
    ) {
        let value_type = first_value_type(
            &self.mapping.paths,
            self.states.get(states_start..).unwrap_or_default(),
        );
        self.frames.push(Frame {
            key,
            index,
            states: states_start..self.states.len(),
            members_start: self.members.len(),
            segments_start: self.segments.len(),
            keys_start: self.keys.len(),
            text_start: self.text.len(),
            piece_start: self.text.len(),
            value_type,
            object: None,
            attrs_end: self.out.len(),
            has_entries: false,
            nil: false,
            interleaved: false,
            segment_of,
            value_start: self.out.len(),
            has_index_map: false,
        });
    }

    /// Makes the innermost element's value an object (writes `{`) if it is not one yet.
    pub(super) fn open_object(&mut self) {
        if let Some(frame) = self.frames.last_mut() {
            if frame.object.is_none() {
                self.out.push(b'{');
                frame.object = Some(self.out.len());
                frame.attrs_end = self.out.len();
            }
        }
    }

    /// Writes `"key":` for an attribute of the innermost element (comma first if needed); the
    /// caller writes the value.
    pub(super) fn begin_attribute(&mut self, key: &str) {
        self.open_object();
        if let Some(frame) = self.frames.last_mut() {
            if frame.has_entries {
                self.out.push(b',');
            }
            frame.has_entries = true;
        }
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// Marks the end of the attributes of the innermost element.
    pub(super) fn end_attributes(&mut self) {
        let end = self.out.len();
        if let Some(frame) = self.frames.last_mut() {
            if frame.object.is_some() {
                frame.attrs_end = end;
            }
        }
    }

    /// Places a child with key `key_buf` in the innermost element and returns the child's
    /// frame parameters: its key range, array index and (when interleaved) member.
    pub(super) fn place_child(
        &mut self,
        forced: bool,
    ) -> (Range<usize>, Option<u32>, Option<usize>) {
        self.drop_whitespace_piece();
        self.open_object();
        let found = self.find_member();
        let Some(frame) = self.frames.last_mut() else {
            return (0..0, None, None);
        };
        let last_index = self.members.len().checked_sub(1);
        match found {
            Some(index) if !frame.interleaved && Some(index) == last_index => {
                let Some(member) = self.members.get_mut(index) else {
                    return (0..0, None, None);
                };
                if member.count == 1 && !member.forced && member.items.start <= self.out.len() {
                    self.out.insert(member.items.start, b'[');
                    member.items.start += 1;
                }
                self.out.push(b',');
                member.count = member.count.saturating_add(1);
                (member.key.clone(), Some(member.count - 1), None)
            }
            Some(index) => {
                if !frame.interleaved {
                    frame.interleaved = true;
                    if let Some(last) = self.members.last_mut() {
                        last.items.end = self.out.len();
                    }
                }
                let Some(member) = self.members.get_mut(index) else {
                    return (0..0, None, None);
                };
                member.count = member.count.saturating_add(1);
                (member.key.clone(), Some(member.count - 1), Some(index))
            }
            None => {
                let key_start = self.keys.len();
                self.keys.extend_from_slice(self.key_buf.as_bytes());
                let key = key_start..self.keys.len();
                let index = self.members.len();
                if frame.has_index_map {
                    if let Some(map) = self.index_maps.last_mut() {
                        map.insert(self.key_buf.as_bytes().into(), index);
                    }
                }
                let array_index = forced.then_some(0);
                if frame.interleaved {
                    self.members.push(Member {
                        key: key.clone(),
                        items: 0..0,
                        count: 1,
                        forced,
                    });
                    return (key, array_index, Some(index));
                }
                if let Some(last) = self
                    .members
                    .get_mut(frame.members_start..)
                    .and_then(|m| m.last_mut())
                {
                    last.items.end = self.out.len();
                    if last.is_array() {
                        self.out.push(b']');
                    }
                }
                if frame.has_entries {
                    self.out.push(b',');
                }
                frame.has_entries = true;
                self.out.push(b'"');
                self.out.extend_from_slice(self.key_buf.as_bytes());
                self.out.extend_from_slice(b"\":");
                if forced {
                    self.out.push(b'[');
                }
                self.members.push(Member {
                    key: key.clone(),
                    items: self.out.len()..self.out.len(),
                    count: 1,
                    forced,
                });
                (key, array_index, None)
            }
        }
    }

    /// The innermost element's member whose key is `key_buf`.
    fn find_member(&mut self) -> Option<usize> {
        let frame = self.frames.last_mut()?;
        let start = frame.members_start;
        let wanted = self.key_buf.as_bytes();
        let keys = &self.keys;
        let key_of = |member: &Member| keys.get(member.key.clone()).unwrap_or_default();
        if let Some(last) = self.members.get(start..).and_then(<[Member]>::last) {
            if key_of(last) == wanted {
                return Some(self.members.len() - 1);
            }
        }
        let members = self.members.get(start..)?;
        if members.len() <= LINEAR_LOOKUP_LIMIT {
            return members
                .iter()
                .position(|m| key_of(m) == wanted)
                .map(|offset| start + offset);
        }
        if !frame.has_index_map {
            frame.has_index_map = true;
            self.index_maps.push(
                members
                    .iter()
                    .enumerate()
                    .map(|(offset, m)| (Box::from(key_of(m)), start + offset))
                    .collect(),
            );
        }
        self.index_maps
            .last()
            .and_then(|map| map.get(wanted).copied())
    }

    /// Drops the text since the last child if it is whitespace only (indentation).
    fn drop_whitespace_piece(&mut self) {
        if let Some(frame) = self.frames.last() {
            let piece = self.text.get(frame.piece_start..).unwrap_or_default();
            if is_xml_whitespace(piece) {
                self.text.truncate(frame.piece_start);
            }
        }
    }

    /// Finishes the innermost element: writes the rest of its value and pops its frame.
    pub(super) fn finish_element(&mut self) -> Result<(), XmlError> {
        let Some(frame) = self.frames.last() else {
            return Ok(());
        };
        if frame.object.is_some() || frame.nil {
            self.drop_whitespace_piece();
        }
        let Some(frame) = self.frames.last() else {
            return Ok(());
        };
        let has_text = self.text.len() > frame.text_start;
        if frame.nil && (has_text || self.members.len() > frame.members_start) {
            return Err(XmlError::NilWithContent { at: self.path() });
        }
        if let Some(content_start) = frame.object {
            self.close_object(content_start)?;
        } else if frame.nil {
            self.out.extend_from_slice(b"null");
        } else {
            let blank = is_xml_whitespace(self.text.get(frame.text_start..).unwrap_or_default());
            let missing = if blank {
                self.missing_arrays()
            } else {
                Vec::new()
            };
            if missing.is_empty() {
                self.write_text_value()?;
            } else {
                // An element with nothing in it but declared arrays: an object of `[]`s.
                self.out.push(b'{');
                let start = self.out.len();
                self.write_empty_arrays(&missing, start);
                self.out.push(b'}');
            }
        }
        let Some(frame) = self.frames.pop() else {
            return Ok(());
        };
        self.text.truncate(frame.text_start);
        self.keys.truncate(frame.keys_start);
        self.members.truncate(frame.members_start);
        self.segments.truncate(frame.segments_start);
        self.states.truncate(frame.states.start);
        if frame.has_index_map {
            self.index_maps.pop();
        }
        if let Some(member) = frame.segment_of {
            self.segments.push(Segment {
                member,
                range: frame.value_start..self.out.len(),
            });
        }
        if let Some(parent) = self.frames.last_mut() {
            parent.piece_start = self.text.len();
        }
        Ok(())
    }

    /// Closes the members, writes `#text` and `}` of the innermost (object) element.
    fn close_object(&mut self, content_start: usize) -> Result<(), XmlError> {
        let Some(frame) = self.frames.last() else {
            return Ok(());
        };
        if frame.interleaved {
            self.regroup(content_start);
        } else if let Some(last) = self
            .members
            .get(frame.members_start..)
            .and_then(<[Member]>::last)
        {
            if last.is_array() {
                self.out.push(b']');
            }
        }
        let missing = self.missing_arrays();
        self.write_empty_arrays(&missing, content_start);
        let Some(frame) = self.frames.last() else {
            return Ok(());
        };
        let needs_comma = self.out.len() > content_start;
        let has_text = self.text.len() > frame.text_start;
        if frame.nil || has_text {
            if needs_comma {
                self.out.push(b',');
            }
            self.out.extend_from_slice(b"\"#text\":");
            if frame.nil {
                self.out.extend_from_slice(b"null");
            } else {
                self.write_text_value()?;
            }
        }
        self.out.push(b'}');
        Ok(())
    }

    /// The declared array children of the innermost element that did not occur in it.
    fn missing_arrays(&self) -> Vec<Box<str>> {
        let Some(frame) = self.frames.last() else {
            return Vec::new();
        };
        let mut missing: Vec<Box<str>> = Vec::new();
        for &state in self.states.get(frame.states.clone()).unwrap_or_default() {
            let Some(node) = self.mapping.paths.node(state) else {
                continue;
            };
            for key in &node.empty_arrays {
                let present = self
                    .members
                    .get(frame.members_start..)
                    .unwrap_or_default()
                    .iter()
                    .any(|m| self.keys.get(m.key.clone()) == Some(key.as_bytes()));
                if !present && !missing.contains(key) {
                    missing.push(key.clone());
                }
            }
        }
        missing
    }

    /// Writes `"key":[]` for each key, after the content that starts at `content_start`.
    fn write_empty_arrays(&mut self, keys: &[Box<str>], content_start: usize) {
        for key in keys {
            if self.out.len() > content_start {
                self.out.push(b',');
            }
            self.out.push(b'"');
            self.out.extend_from_slice(key.as_bytes());
            self.out.extend_from_slice(b"\":[]");
        }
    }

    /// Rewrites the innermost element's content with each member's values grouped together.
    fn regroup(&mut self, base: usize) {
        let Some(frame) = self.frames.last() else {
            return;
        };
        self.scratch.clear();
        self.scratch
            .extend_from_slice(self.out.get(base..).unwrap_or_default());
        self.out.truncate(base);
        let local =
            |range: &Range<usize>| range.start.saturating_sub(base)..range.end.saturating_sub(base);
        let attrs = self
            .scratch
            .get(local(&(base..frame.attrs_end)))
            .unwrap_or_default();
        self.out.extend_from_slice(attrs);
        let mut needs_comma = !attrs.is_empty();
        let segments = self
            .segments
            .get_mut(frame.segments_start..)
            .unwrap_or_default();
        // A stable sort keeps each member's values in document order.
        segments.sort_by_key(|segment| segment.member);
        let mut segments = segments.iter().peekable();
        let members = self.members.get(frame.members_start..).unwrap_or_default();
        for (offset, member) in members.iter().enumerate() {
            if needs_comma {
                self.out.push(b',');
            }
            needs_comma = true;
            self.out.push(b'"');
            self.out
                .extend_from_slice(self.keys.get(member.key.clone()).unwrap_or_default());
            self.out.extend_from_slice(b"\":");
            if member.is_array() {
                self.out.push(b'[');
            }
            let mut first = true;
            if member.items.start < member.items.end {
                self.out
                    .extend_from_slice(self.scratch.get(local(&member.items)).unwrap_or_default());
                first = false;
            }
            let index = frame.members_start + offset;
            while let Some(segment) = segments.next_if(|s| s.member == index) {
                if !first {
                    self.out.push(b',');
                }
                first = false;
                self.out
                    .extend_from_slice(self.scratch.get(local(&segment.range)).unwrap_or_default());
            }
            if member.is_array() {
                self.out.push(b']');
            }
        }
    }

    /// Writes the innermost element's text as a JSON value (typed by hint or option).
    fn write_text_value(&mut self) -> Result<(), XmlError> {
        let Some(frame) = self.frames.last() else {
            return Ok(());
        };
        let raw = self.text.get(frame.text_start..).unwrap_or_default();
        let text = std::str::from_utf8(raw).unwrap_or_default();
        let value_type = frame.value_type;
        write_scalar(self.out, text, value_type, self.mapping).map_err(|expected| {
            XmlError::InvalidValue {
                at: self.path(),
                expected,
                found: shorten(text),
            }
        })
    }
}
