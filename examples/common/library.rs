//! The demo library backend: shelves and books kept in memory, implemented against the
//! descriptors of `protos/polygate/demo/v1/library.proto` with no generated code.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, ReflectMessage, Value};
use tonic::{Code, Status};

use super::grpc_server::{status_with_details, Call, GrpcServerBuilder, Reply};

#[path = "reading_room.rs"]
mod reading_room;

const PACKAGE: &str = "polygate.demo.v1";

#[derive(Default)]
struct Store {
    shelves: BTreeMap<String, DynamicMessage>,
    books: BTreeMap<String, DynamicMessage>,
    next_shelf: u64,
    next_book: u64,
}

/// Compiles the demo protos (from `protos/`) into a pool.
pub fn library_pool(protos_dir: &std::path::Path) -> DescriptorPool {
    let encoded = polygate::descriptors::compile_protos(
        &[protos_dir.join("polygate/demo/v1/library.proto")],
        &[protos_dir.to_path_buf()],
    )
    .expect("the demo protos compile");
    DescriptorPool::decode(encoded.as_slice()).expect("the demo descriptors decode")
}

/// A server builder with every Library, Admin and ReadingRoom method implemented, seeded with
/// two shelves.
pub fn library_backend(pool: DescriptorPool) -> GrpcServerBuilder {
    let library = Arc::new(Library {
        pool: pool.clone(),
        store: Mutex::new(Store::default()),
    });
    library.seed();
    let mut builder = GrpcServerBuilder::new(pool);
    for method in [
        "ListShelves",
        "CreateShelf",
        "GetShelf",
        "DeleteShelf",
        "ArchiveShelf",
        "ListBooks",
        "CreateBook",
        "GetBook",
        "UpdateBook",
        "WatchBooks",
        "ImportBooks",
        "GetCover",
    ] {
        let library = library.clone();
        builder = builder.handle(&format!("{PACKAGE}.Library.{method}"), move |call| {
            let library = library.clone();
            async move { library.dispatch(method, call) }
        });
    }
    let admin = library.clone();
    let builder = builder.handle(&format!("{PACKAGE}.Admin.GetStats"), move |_| {
        let admin = admin.clone();
        async move { admin.stats() }
    });
    reading_room::reading_room(builder, library.pool.clone())
}

struct Library {
    pool: DescriptorPool,
    store: Mutex<Store>,
}

fn text(message: &DynamicMessage, field: &str) -> String {
    message
        .get_field_by_name(field)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn now() -> (i64, i32) {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (
        elapsed.as_secs() as i64,
        (elapsed.subsec_millis() * 1_000_000) as i32,
    )
}

impl Library {
    fn descriptor(&self, name: &str) -> MessageDescriptor {
        self.pool
            .get_message_by_name(name)
            .expect("message in the demo protos")
    }

    fn message(&self, name: &str) -> DynamicMessage {
        DynamicMessage::new(self.descriptor(&format!("{PACKAGE}.{name}")))
    }

    fn timestamp(&self) -> Value {
        let mut timestamp = DynamicMessage::new(self.descriptor("google.protobuf.Timestamp"));
        let (seconds, nanos) = now();
        timestamp.set_field_by_name("seconds", Value::I64(seconds));
        timestamp.set_field_by_name("nanos", Value::I32(nanos));
        Value::Message(timestamp)
    }

    fn seed(&self) {
        let mut store = self.store.lock().unwrap();
        for (theme, genre, books) in [
            (
                "Classics",
                1,
                vec![("War and Peace", "Leo Tolstoy", 1225, 9780199232765_i64)],
            ),
            (
                "Physics",
                3,
                vec![(
                    "The Feynman Lectures on Physics",
                    "Richard Feynman",
                    1552,
                    9780465023820,
                )],
            ),
        ] {
            store.next_shelf += 1;
            let name = format!("shelves/{}", store.next_shelf);
            let mut shelf = self.message("Shelf");
            shelf.set_field_by_name("name", Value::String(name.clone()));
            shelf.set_field_by_name("theme", Value::String(theme.into()));
            shelf.set_field_by_name("genre", Value::EnumNumber(genre));
            shelf.set_field_by_name("book_count", Value::I64(books.len() as i64));
            shelf.set_field_by_name("create_time", self.timestamp());
            for (title, author, pages, isbn) in books {
                store.next_book += 1;
                let book_name = format!("{name}/books/{}", store.next_book);
                let mut book = self.message("Book");
                book.set_field_by_name("name", Value::String(book_name.clone()));
                book.set_field_by_name("title", Value::String(title.into()));
                book.set_field_by_name("author", Value::String(author.into()));
                book.set_field_by_name("pages", Value::I32(pages));
                book.set_field_by_name("isbn", Value::I64(isbn));
                store.books.insert(book_name, book);
            }
            store.shelves.insert(name, shelf);
        }
    }

    fn dispatch(&self, method: &str, call: Call) -> Result<Reply, Status> {
        match method {
            "ListShelves" => self.list_shelves(call.message()),
            "CreateShelf" => self.create_shelf(call.message()),
            "GetShelf" => self.shelf(&text(call.message(), "name")).map(Reply::one),
            "DeleteShelf" => self.delete_shelf(call.message()),
            "ArchiveShelf" => self.archive_shelf(call.message()),
            "ListBooks" => {
                let mut response = self.message("ListBooksResponse");
                let books = self.matching_books(call.message());
                response.set_field_by_name(
                    "books",
                    Value::List(books.into_iter().map(Value::Message).collect()),
                );
                Ok(Reply::one(response))
            }
            "CreateBook" => self.create_book(call.message()).map(Reply::one),
            "GetBook" => self.book(&text(call.message(), "name")).map(Reply::one),
            "UpdateBook" => self.update_book(call.message()),
            "WatchBooks" => {
                self.shelf(&text(call.message(), "parent"))?;
                Ok(Reply::stream(self.matching_books(call.message()), None))
            }
            "ImportBooks" => self.import_books(&call.messages),
            "GetCover" => self.cover(call.message()),
            other => Err(Status::unimplemented(other.to_owned())),
        }
    }

    fn list_shelves(&self, request: &DynamicMessage) -> Result<Reply, Status> {
        let page_size = request
            .get_field_by_name("page_size")
            .and_then(|v| v.as_i32())
            .unwrap_or(0);
        if page_size < 0 {
            return Err(bad_request("page_size", "must not be negative"));
        }
        let genre = request
            .get_field_by_name("genre")
            .and_then(|v| v.as_enum_number())
            .unwrap_or(0);
        let store = self.store.lock().unwrap();
        let shelves: Vec<Value> = store
            .shelves
            .values()
            .filter(|s| {
                genre == 0
                    || s.get_field_by_name("genre")
                        .and_then(|v| v.as_enum_number())
                        == Some(genre)
            })
            .take(if page_size == 0 {
                usize::MAX
            } else {
                page_size as usize
            })
            .cloned()
            .map(Value::Message)
            .collect();
        let mut response = self.message("ListShelvesResponse");
        response.set_field_by_name("shelves", Value::List(shelves));
        Ok(Reply::one(response))
    }

    fn create_shelf(&self, request: &DynamicMessage) -> Result<Reply, Status> {
        let mut shelf = request
            .get_field_by_name("shelf")
            .and_then(|v| v.as_message().cloned())
            .unwrap_or_else(|| self.message("Shelf"));
        if text(&shelf, "theme").is_empty() {
            return Err(bad_request("shelf.theme", "a shelf needs a theme"));
        }
        let mut store = self.store.lock().unwrap();
        store.next_shelf += 1;
        let name = format!("shelves/{}", store.next_shelf);
        shelf.set_field_by_name("name", Value::String(name.clone()));
        shelf.set_field_by_name("book_count", Value::I64(0));
        shelf.set_field_by_name("create_time", self.timestamp());
        store.shelves.insert(name, shelf.clone());
        Ok(Reply::one(shelf))
    }

    fn shelf(&self, name: &str) -> Result<DynamicMessage, Status> {
        self.store
            .lock()
            .unwrap()
            .shelves
            .get(name)
            .cloned()
            .ok_or_else(|| not_found("shelf", name))
    }

    fn book(&self, name: &str) -> Result<DynamicMessage, Status> {
        self.store
            .lock()
            .unwrap()
            .books
            .get(name)
            .cloned()
            .ok_or_else(|| not_found("book", name))
    }

    fn delete_shelf(&self, request: &DynamicMessage) -> Result<Reply, Status> {
        let name = text(request, "name");
        let mut store = self.store.lock().unwrap();
        store
            .shelves
            .remove(&name)
            .ok_or_else(|| not_found("shelf", &name))?;
        let prefix = format!("{name}/");
        store.books.retain(|book, _| !book.starts_with(&prefix));
        Ok(Reply::one(DynamicMessage::new(
            self.descriptor("google.protobuf.Empty"),
        )))
    }

    fn archive_shelf(&self, request: &DynamicMessage) -> Result<Reply, Status> {
        let name = text(request, "name");
        let mut store = self.store.lock().unwrap();
        let shelf = store
            .shelves
            .get_mut(&name)
            .ok_or_else(|| not_found("shelf", &name))?;
        if shelf
            .get_field_by_name("archived")
            .and_then(|v| v.as_bool())
            == Some(true)
        {
            return Err(Status::failed_precondition(format!(
                "{name} is already archived"
            )));
        }
        shelf.set_field_by_name("archived", Value::Bool(true));
        Ok(Reply::one(shelf.clone()))
    }

    fn matching_books(&self, request: &DynamicMessage) -> Vec<DynamicMessage> {
        let parent = text(request, "parent");
        let author = text(request, "author");
        let tags: Vec<String> = request
            .get_field_by_name("tags")
            .and_then(|v| {
                v.as_list().map(|l| {
                    l.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
            })
            .unwrap_or_default();
        let store = self.store.lock().unwrap();
        store
            .books
            .iter()
            .filter(|(name, _)| parent.is_empty() || name.starts_with(&format!("{parent}/")))
            .filter(|(_, book)| author.is_empty() || text(book, "author") == author)
            .filter(|(_, book)| {
                let book_tags = book
                    .get_field_by_name("tags")
                    .and_then(|v| v.as_list().map(<[Value]>::to_vec))
                    .unwrap_or_default();
                tags.iter()
                    .all(|t| book_tags.iter().any(|b| b.as_str() == Some(t)))
            })
            .map(|(_, book)| book.clone())
            .collect()
    }

    fn create_book(&self, request: &DynamicMessage) -> Result<DynamicMessage, Status> {
        let parent = text(request, "parent");
        let mut book = request
            .get_field_by_name("book")
            .and_then(|v| v.as_message().cloned())
            .unwrap_or_else(|| self.message("Book"));
        if text(&book, "title").is_empty() {
            return Err(bad_request("book.title", "a book needs a title"));
        }
        let mut store = self.store.lock().unwrap();
        let shelf = store
            .shelves
            .get_mut(&parent)
            .ok_or_else(|| not_found("shelf", &parent))?;
        let count = shelf
            .get_field_by_name("book_count")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        shelf.set_field_by_name("book_count", Value::I64(count + 1));
        store.next_book += 1;
        let name = format!("{parent}/books/{}", store.next_book);
        book.set_field_by_name("name", Value::String(name.clone()));
        store.books.insert(name, book.clone());
        Ok(book)
    }

    fn update_book(&self, request: &DynamicMessage) -> Result<Reply, Status> {
        let update = request
            .get_field_by_name("book")
            .and_then(|v| v.as_message().cloned())
            .unwrap_or_else(|| self.message("Book"));
        let name = text(&update, "name");
        let paths: Vec<String> = request
            .get_field_by_name("update_mask")
            .and_then(|m| m.as_message().cloned())
            .and_then(|m| {
                m.get_field_by_name("paths").and_then(|p| {
                    p.as_list().map(|l| {
                        l.iter()
                            .filter_map(|s| s.as_str().map(str::to_owned))
                            .collect()
                    })
                })
            })
            .unwrap_or_default();
        let mut store = self.store.lock().unwrap();
        let book = store
            .books
            .get_mut(&name)
            .ok_or_else(|| not_found("book", &name))?;
        for field in update.descriptor().fields() {
            if field.name() == "name"
                || (!paths.is_empty() && !paths.iter().any(|p| p == field.name()))
            {
                continue;
            }
            if paths.is_empty() && !update.has_field(&field) {
                continue;
            }
            book.set_field(&field, update.get_field(&field).into_owned());
        }
        Ok(Reply::one(book.clone()))
    }

    fn import_books(&self, requests: &[DynamicMessage]) -> Result<Reply, Status> {
        let mut names = Vec::new();
        for request in requests {
            names.push(Value::String(text(&self.create_book(request)?, "name")));
        }
        let mut response = self.message("ImportBooksResponse");
        response.set_field_by_name("imported", Value::I32(names.len() as i32));
        response.set_field_by_name("names", Value::List(names));
        Ok(Reply::one(response))
    }

    fn cover(&self, request: &DynamicMessage) -> Result<Reply, Status> {
        let book = self.book(&text(request, "name"))?;
        let svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" height=\"300\"><rect width=\"200\" height=\"300\" fill=\"#2b4c7e\"/><text x=\"100\" y=\"150\" fill=\"white\" text-anchor=\"middle\">{}</text></svg>",
            text(&book, "title").replace('&', "&amp;").replace('<', "&lt;")
        );
        let mut body = DynamicMessage::new(self.descriptor("google.api.HttpBody"));
        body.set_field_by_name("content_type", Value::String("image/svg+xml".into()));
        body.set_field_by_name("data", Value::Bytes(svg.into_bytes().into()));
        Ok(Reply::one(body))
    }

    fn stats(&self) -> Result<Reply, Status> {
        let store = self.store.lock().unwrap();
        let mut stats = self.message("Stats");
        stats.set_field_by_name("shelves", Value::I64(store.shelves.len() as i64));
        stats.set_field_by_name("books", Value::I64(store.books.len() as i64));
        Ok(Reply::one(stats))
    }
}

/// NOT_FOUND with a `google.rpc.ResourceInfo` detail.
fn not_found(kind: &str, name: &str) -> Status {
    let info = ResourceInfo {
        resource_type: kind.to_owned(),
        resource_name: name.to_owned(),
        owner: String::new(),
        description: format!("no {kind} is named '{name}'"),
    };
    status_with_details(
        Code::NotFound,
        format!("{kind} '{name}' not found"),
        &[("google.rpc.ResourceInfo", info.encode_to_vec())],
    )
}

/// INVALID_ARGUMENT with a `google.rpc.BadRequest` detail.
fn bad_request(field: &str, description: &str) -> Status {
    let detail = BadRequest {
        field_violations: vec![FieldViolation {
            field: field.to_owned(),
            description: description.to_owned(),
        }],
    };
    status_with_details(
        Code::InvalidArgument,
        format!("{field}: {description}"),
        &[("google.rpc.BadRequest", detail.encode_to_vec())],
    )
}

#[derive(Clone, PartialEq, prost::Message)]
struct ResourceInfo {
    #[prost(string, tag = "1")]
    resource_type: String,
    #[prost(string, tag = "2")]
    resource_name: String,
    #[prost(string, tag = "3")]
    owner: String,
    #[prost(string, tag = "4")]
    description: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct BadRequest {
    #[prost(message, repeated, tag = "1")]
    field_violations: Vec<FieldViolation>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct FieldViolation {
    #[prost(string, tag = "1")]
    field: String,
    #[prost(string, tag = "2")]
    description: String,
}
