//! The shared cache tier in Redis (`redis: {cache: true}`): stored answers are also written
//! to Redis, a local miss reads Redis before calling the backend, and purges delete the Redis
//! copies and reach every instance through a pub/sub channel. Redis failures never fail a
//! request: the tier is bypassed, counted and logged once per interval.
//!
//! Keys: `{prefix}cache:e:` + the full cache key bytes (compared in full, never hashed).
//! Values, format version 1 (integers big-endian, strings and byte strings u32-length-prefixed):
//! `1`, stored time (u64 ms since the Unix epoch), fresh / stale-while-revalidate /
//! stale-if-error (u64 ms each), route, values (u16 count, name/value pairs), tags (u16 count),
//! ETag, leading metadata, the message (kind byte, media type for raw bytes, bytes), trailing
//! metadata, then the REST/XML backend's reply (0, or 1 + status u16, headers, location,
//! foreign location, body, pass-through byte). Another version byte is a miss.
//! Only successes are written; negative (404/410) entries and hit-for-miss markers stay local.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::store::{Entry, StoredAnswer};
use super::{weigh, CacheKey, Purge, ResponseCache, RouteCounters};
use crate::model::{Payload, UpstreamReply};
use crate::shared_state::{SharedError, SharedState};

/// The value format this build writes and reads.
pub const VERSION: u8 = 1;

/// How long the purge subscription waits before connecting again after losing Redis.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(500);

/// The Redis tier of one gateway's cache.
pub struct RedisTier {
    state: Arc<SharedState>,
    channel: Vec<u8>,
}

/// A purge as published to the other instances.
#[derive(serde::Serialize, serde::Deserialize)]
struct PurgeMessage {
    from: u64,
    purge: Purge,
}

impl RedisTier {
    /// The tier over `state`'s connection.
    pub fn new(state: Arc<SharedState>) -> Self {
        let channel = state.key(b"cache:purge");
        Self { state, channel }
    }

    /// The shared state (its counters).
    pub fn state(&self) -> &Arc<SharedState> {
        &self.state
    }

    fn redis_key(&self, key: &CacheKey) -> Vec<u8> {
        self.state
            .key(&[b"cache:e:".as_slice(), key.as_bytes()].concat())
    }

    /// The entry Redis holds under `key`, if any is readable and alive.
    pub async fn get(&self, key: &CacheKey, counters: &Arc<RouteCounters>) -> Option<Arc<Entry>> {
        let redis_key = self.redis_key(key);
        let value: Option<Vec<u8>> = match self
            .state
            .run(|mut c| async move { redis::cmd("GET").arg(redis_key).query_async(&mut c).await })
            .await
        {
            Ok(value) => value,
            Err(error) => {
                self.state.cache_failed("read", &error);
                return None;
            }
        };
        let counters_tier = &self.state.cache;
        let Some(value) = value else {
            counters_tier.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        match decode(&value, key, counters, SystemTime::now(), Instant::now()) {
            Some(entry) => {
                counters_tier.hits.fetch_add(1, Ordering::Relaxed);
                Some(Arc::new(entry))
            }
            None => {
                counters_tier.rejected.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Writes `entry` under `key`, to expire with its lifetime (fresh plus the longer stale
    /// window).
    pub async fn put(&self, key: &CacheKey, entry: &Entry) {
        let Some(value) = encode(entry, SystemTime::now(), Instant::now()) else {
            return;
        };
        let redis_key = self.redis_key(key);
        let ttl = (entry.lifetime().as_millis() as u64).max(1);
        let written: Result<(), SharedError> = self
            .state
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(redis_key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl)
                    .query_async(&mut c)
                    .await
            })
            .await;
        match written {
            Ok(()) => {
                self.state.cache.writes.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => self.state.cache_failed("write", &error),
        }
    }

    /// Deletes the Redis copies `purge` names and tells the other instances; returns how many
    /// copies were deleted.
    pub async fn purge(&self, purge: &Purge) -> usize {
        let deleted = match self.delete_matching(purge).await {
            Ok(deleted) => deleted,
            Err(error) => {
                self.state.cache_failed("purge", &error);
                0
            }
        };
        let message = PurgeMessage {
            from: self.state.instance(),
            purge: purge.clone(),
        };
        let Ok(message) = serde_json::to_vec(&message) else {
            return deleted;
        };
        let channel = self.channel.clone();
        let published: Result<i64, SharedError> = self
            .state
            .run(|mut c| async move {
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(message)
                    .query_async(&mut c)
                    .await
            })
            .await;
        if let Err(error) = published {
            self.state.cache_failed("publish purge", &error);
        }
        deleted
    }

    /// SCANs the tier's keys and deletes those whose entries `purge` picks.
    async fn delete_matching(&self, purge: &Purge) -> Result<usize, SharedError> {
        let pattern = [glob_escape(&self.state.key(b"cache:e:")), b"*".to_vec()].concat();
        let mut cursor = 0u64;
        let mut deleted = 0;
        loop {
            let pattern = pattern.clone();
            let (next, keys): (u64, Vec<Vec<u8>>) = self
                .state
                .run(|mut c| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            if !keys.is_empty() {
                let doomed = if *purge == Purge::default() {
                    keys
                } else {
                    let asked = keys.clone();
                    let values: Vec<Option<Vec<u8>>> = self
                        .state
                        .run(|mut c| async move {
                            redis::cmd("MGET").arg(asked).query_async(&mut c).await
                        })
                        .await?;
                    keys.into_iter()
                        .zip(values)
                        .filter(|(_, value)| {
                            value
                                .as_deref()
                                .is_none_or(|v| matches_header(v, purge).unwrap_or(true))
                        })
                        .map(|(key, _)| key)
                        .collect()
                };
                if !doomed.is_empty() {
                    let count: usize = self
                        .state
                        .run(|mut c| async move {
                            redis::cmd("DEL").arg(doomed).query_async(&mut c).await
                        })
                        .await?;
                    deleted += count;
                }
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// Listens for other instances' purges and applies them to `cache`'s local store, until
    /// the cache is gone; reconnects after losing Redis (purges published meanwhile are
    /// missed: those local copies live out their TTL).
    pub fn listen(self: &Arc<Self>, cache: Weak<ResponseCache>) {
        let tier = Arc::downgrade(self);
        let client = self.state.client().clone();
        let channel = self.channel.clone();
        let connect_timeout = self.state.settings().connect_timeout;
        tokio::spawn(async move {
            loop {
                if cache.strong_count() == 0 {
                    return;
                }
                let subscribed = tokio::time::timeout(connect_timeout, async {
                    let mut pubsub = client.get_async_pubsub().await?;
                    pubsub.subscribe(&channel).await?;
                    Ok::<_, redis::RedisError>(pubsub)
                })
                .await;
                let pubsub = match subscribed {
                    Ok(Ok(pubsub)) => pubsub,
                    Ok(Err(error)) => {
                        if let Some(tier) = tier.upgrade() {
                            tier.state.subscription_failed(&SharedError::from(error));
                        }
                        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                        continue;
                    }
                    Err(_) => {
                        if let Some(tier) = tier.upgrade() {
                            tier.state
                                .subscription_failed(&SharedError::Timeout(connect_timeout));
                        }
                        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                        continue;
                    }
                };
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let (Some(cache), Some(tier)) = (cache.upgrade(), tier.upgrade()) else {
                        return;
                    };
                    let Ok(message) =
                        serde_json::from_slice::<PurgeMessage>(message.get_payload_bytes())
                    else {
                        continue;
                    };
                    if message.from == tier.state.instance() {
                        continue;
                    }
                    tier.state
                        .cache
                        .purges_received
                        .fetch_add(1, Ordering::Relaxed);
                    cache.purge_local(&message.purge).await;
                }
                tokio::time::sleep(RESUBSCRIBE_DELAY).await;
            }
        });
    }
}

/// `bytes` with the glob characters of Redis's MATCH escaped.
fn glob_escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 4);
    for &b in bytes {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// Writes values in the tier's format.
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(&(v.len() as u32).to_be_bytes());
        self.0.extend_from_slice(v);
    }
    fn headers(&mut self, map: &HeaderMap) {
        self.u16(map.len().min(u16::MAX as usize) as u16);
        for (name, value) in map.iter().take(u16::MAX as usize) {
            self.bytes(name.as_str().as_bytes());
            self.bytes(value.as_bytes());
        }
    }
    fn payload(&mut self, payload: &Payload) {
        match payload {
            Payload::Json(b) => {
                self.u8(0);
                self.bytes(b);
            }
            Payload::Protobuf(b) => {
                self.u8(1);
                self.bytes(b);
            }
            Payload::Xml(b) => {
                self.u8(2);
                self.bytes(b);
            }
            Payload::Raw { content_type, data } => {
                self.u8(3);
                self.bytes(content_type.as_bytes());
                self.bytes(data);
            }
        }
    }
    fn option(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.bytes(v);
            }
        }
    }
}

/// Reads values in the tier's format; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = u32::from_be_bytes(self.take(4)?.try_into().ok()?) as usize;
        self.take(n)
    }
    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
    fn headers(&mut self) -> Option<HeaderMap> {
        let n = self.u16()?;
        let mut map = HeaderMap::with_capacity(usize::from(n));
        for _ in 0..n {
            let name = HeaderName::from_bytes(self.bytes()?).ok()?;
            let value = HeaderValue::from_bytes(self.bytes()?).ok()?;
            map.append(name, value);
        }
        Some(map)
    }
    fn payload(&mut self) -> Option<Payload> {
        Some(match self.u8()? {
            0 => Payload::Json(self.bytes()?.to_vec().into()),
            1 => Payload::Protobuf(self.bytes()?.to_vec().into()),
            2 => Payload::Xml(self.bytes()?.to_vec().into()),
            3 => Payload::Raw {
                content_type: self.str()?.to_owned(),
                data: self.bytes()?.to_vec().into(),
            },
            _ => return None,
        })
    }
    fn option(&mut self) -> Option<Option<&'a [u8]>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.bytes()?)),
            _ => None,
        }
    }
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

/// The entry in the tier's format; `None` for what the tier does not keep (negative entries,
/// hit-for-miss markers).
pub fn encode(entry: &Entry, now: SystemTime, instant: Instant) -> Option<Vec<u8>> {
    let Some(StoredAnswer::Success {
        metadata,
        message,
        trailers,
        upstream,
    }) = &entry.answer
    else {
        return None;
    };
    let stored = now.checked_sub(entry.age(instant))?;
    let mut w = Writer(Vec::with_capacity(entry.weight as usize));
    w.u8(VERSION);
    w.u64(millis(stored.duration_since(UNIX_EPOCH).ok()?));
    w.u64(millis(entry.fresh));
    w.u64(millis(entry.stale_while_revalidate));
    w.u64(millis(entry.stale_if_error));
    w.bytes(entry.route.as_bytes());
    w.u16(entry.values.len().min(u16::MAX as usize) as u16);
    for (name, value) in entry.values.iter().take(u16::MAX as usize) {
        w.bytes(name.as_bytes());
        w.bytes(value.as_bytes());
    }
    w.u16(entry.tags.len().min(u16::MAX as usize) as u16);
    for tag in entry.tags.iter().take(u16::MAX as usize) {
        w.bytes(tag.as_bytes());
    }
    w.bytes(entry.etag.as_bytes());
    w.headers(metadata);
    w.payload(message);
    w.headers(trailers);
    match upstream {
        None => w.u8(0),
        Some(reply) => {
            w.u8(1);
            w.u16(reply.status);
            w.headers(&reply.headers);
            w.option(reply.location.as_deref().map(str::as_bytes));
            w.option(reply.foreign_location.as_ref().map(HeaderValue::as_bytes));
            match &reply.body {
                None => w.u8(0),
                Some(body) => {
                    w.u8(1);
                    w.payload(body);
                }
            }
            w.u8(u8::from(reply.pass_through));
        }
    }
    Some(w.0)
}

/// What the header of a value says about purges: the route, values and tags.
struct Header<'a> {
    reader: Reader<'a>,
    stored_ms: u64,
    fresh: u64,
    stale_while_revalidate: u64,
    stale_if_error: u64,
    route: &'a str,
    values: Vec<(&'a str, &'a str)>,
    tags: Vec<&'a str>,
}

fn header(value: &[u8]) -> Option<Header<'_>> {
    let mut r = Reader(value);
    if r.u8()? != VERSION {
        return None;
    }
    let stored_ms = r.u64()?;
    let fresh = r.u64()?;
    let stale_while_revalidate = r.u64()?;
    let stale_if_error = r.u64()?;
    let route = r.str()?;
    let values = (0..r.u16()?)
        .map(|_| Some((r.str()?, r.str()?)))
        .collect::<Option<Vec<_>>>()?;
    let tags = (0..r.u16()?).map(|_| r.str()).collect::<Option<Vec<_>>>()?;
    Some(Header {
        reader: r,
        stored_ms,
        fresh,
        stale_while_revalidate,
        stale_if_error,
        route,
        values,
        tags,
    })
}

/// Whether `purge` picks the value; `None` when the value is not readable.
fn matches_header(value: &[u8], purge: &Purge) -> Option<bool> {
    let h = header(value)?;
    if purge.route.as_deref().is_some_and(|r| r != h.route) {
        return Some(false);
    }
    if !purge
        .values
        .iter()
        .all(|(name, value)| h.values.iter().any(|(n, v)| n == name && v == value))
    {
        return Some(false);
    }
    Some(purge.tag.as_deref().is_none_or(|tag| h.tags.contains(&tag)))
}

/// The entry a value holds, its age counted from its stored time; `None` for an unknown
/// version or a value that does not read whole.
pub fn decode(
    value: &[u8],
    key: &CacheKey,
    counters: &Arc<RouteCounters>,
    now: SystemTime,
    instant: Instant,
) -> Option<Entry> {
    let h = header(value)?;
    let mut r = h.reader;
    let etag = HeaderValue::from_bytes(r.bytes()?).ok()?;
    let metadata = r.headers()?;
    let message = r.payload()?;
    let trailers = r.headers()?;
    let upstream = match r.u8()? {
        0 => None,
        1 => {
            let status = r.u16()?;
            let headers = r.headers()?;
            let location = match r.option()? {
                None => None,
                Some(bytes) => Some(std::str::from_utf8(bytes).ok()?.to_owned()),
            };
            let foreign_location = match r.option()? {
                None => None,
                Some(bytes) => Some(HeaderValue::from_bytes(bytes).ok()?),
            };
            let body = match r.u8()? {
                0 => None,
                1 => Some(r.payload()?),
                _ => return None,
            };
            let pass_through = r.u8()? == 1;
            Some(Box::new(UpstreamReply {
                status,
                headers,
                location,
                foreign_location,
                body,
                pass_through,
            }))
        }
        _ => return None,
    };
    if !r.0.is_empty() {
        return None;
    }
    let stored = UNIX_EPOCH + Duration::from_millis(h.stored_ms);
    let age = now.duration_since(stored).unwrap_or(Duration::ZERO);
    let stored_at = instant.checked_sub(age)?;
    let answer = StoredAnswer::Success {
        metadata,
        message,
        trailers,
        upstream,
    };
    let weight = key.as_bytes().len() + weigh(&answer) + 256;
    Some(Entry {
        answer: Some(answer),
        etag,
        stored_at,
        fresh: Duration::from_millis(h.fresh),
        stale_while_revalidate: Duration::from_millis(h.stale_while_revalidate),
        stale_if_error: Duration::from_millis(h.stale_if_error),
        route: h.route.into(),
        values: h
            .values
            .iter()
            .map(|(n, v)| (Box::from(*n), Box::from(*v)))
            .collect(),
        tags: h.tags.iter().map(|t| Box::from(*t)).collect(),
        weight: weight.min(u32::MAX as usize) as u32,
        counters: counters.clone(),
    })
}

#[cfg(test)]
mod tests;
