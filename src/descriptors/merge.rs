//! Merging encoded `FileDescriptorSet`s by file name, without decoding the files themselves (so
//! custom options such as `google.api.http` survive byte for byte).

use std::collections::BTreeSet;

use bytes::Bytes;
use prost::Message;

/// A `FileDescriptorSet` whose files stay encoded.
#[derive(Clone, PartialEq, Message)]
struct EncodedSet {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    files: Vec<Bytes>,
}

/// The one field of a `FileDescriptorProto` a merge needs.
#[derive(Clone, PartialEq, Message)]
struct FileName {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
}

/// Checks that `bytes` decode as a descriptor set.
pub(super) fn check_set(bytes: &[u8]) -> Result<(), String> {
    let set = EncodedSet::decode(bytes).map_err(|e| format!("not a FileDescriptorSet: {e}"))?;
    for file in &set.files {
        FileName::decode(file.as_ref())
            .map_err(|e| format!("a file in it does not decode: {e}"))?;
    }
    Ok(())
}

/// One set holding every file of `sets`; of files with the same name, the first one is kept.
pub(super) fn first_of_each_name(sets: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let mut seen = BTreeSet::new();
    let mut merged = EncodedSet { files: Vec::new() };
    for set in sets {
        let set = EncodedSet::decode(set.as_slice())
            .map_err(|e| format!("not a FileDescriptorSet: {e}"))?;
        for file in set.files {
            let name = FileName::decode(file.as_ref())
                .map_err(|e| e.to_string())?
                .name
                .unwrap_or_default();
            if seen.insert(name) {
                merged.files.push(file);
            }
        }
    }
    Ok(merged.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(files: &[(&str, &str)]) -> Vec<u8> {
        // A file's name (field 1) and its package (field 2) to tell copies apart.
        let files = files
            .iter()
            .map(|(name, package)| {
                let mut file = Vec::new();
                prost::encoding::string::encode(1, &(*name).to_owned(), &mut file);
                prost::encoding::string::encode(2, &(*package).to_owned(), &mut file);
                Bytes::from(file)
            })
            .collect();
        EncodedSet { files }.encode_to_vec()
    }

    #[test]
    fn the_first_file_of_a_name_wins_and_order_is_kept() {
        let merged = first_of_each_name(&[
            set(&[("a.proto", "user"), ("b.proto", "user")]),
            set(&[("a.proto", "bundled"), ("c.proto", "bundled")]),
        ])
        .unwrap();
        assert_eq!(
            merged,
            set(&[
                ("a.proto", "user"),
                ("b.proto", "user"),
                ("c.proto", "bundled")
            ])
        );
    }

    #[test]
    fn garbage_is_not_a_set() {
        assert!(check_set(&[0xff, 0xff]).is_err());
        assert!(first_of_each_name(&[vec![0x0a, 0x05, 1]]).is_err());
    }
}
