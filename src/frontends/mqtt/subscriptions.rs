//! What the bridge subscribes to: the filters the route table asks for (changed by a reload),
//! what the broker granted on the current connection, and what the persistent session may
//! still hold. Pure state, tested without sockets; the bridge sends the [`Request`] it gives
//! and feeds back the broker's answers.
//!
//! One SUBSCRIBE or UNSUBSCRIBE is outstanding at a time, so every answer belongs to the
//! request before it. New filters are subscribed before old ones are unsubscribed: a route
//! whose QoS or shared group changed is served by its new subscription before its old one
//! goes. Readiness: on each connection, false until every filter was granted once; after
//! that a reload's new filters do not turn it false while their SUBACK is awaited (the old
//! subscriptions keep serving), but a refused filter does, until it is granted or no route
//! asks for it any more.

use std::collections::{BTreeMap, BTreeSet};

/// A packet for the bridge to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// One SUBSCRIBE for these filters and QoS.
    Subscribe(Vec<(String, u8)>),
    /// One UNSUBSCRIBE for this filter.
    Unsubscribe(String),
}

/// What a SUBACK changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Answered {
    /// Filters granted.
    pub(crate) granted: Vec<String>,
    /// Filters refused, with the broker's reason.
    pub(crate) refused: Vec<(String, String)>,
}

/// The bridge's subscriptions; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    /// What the route table asks for.
    desired: BTreeMap<String, u8>,
    /// Granted on the current connection, with the QoS asked for.
    granted: BTreeMap<String, u8>,
    /// Refused on the current connection, with the QoS asked for.
    refused: BTreeMap<String, u8>,
    /// Filters the broker's session may hold: asked for and not yet unsubscribed.
    session: BTreeSet<String>,
    /// Filters whose UNSUBSCRIBE failed on this connection (not asked again until the next
    /// connection or reload).
    stuck: BTreeSet<String>,
    /// The request sent and not answered yet.
    pending: Option<Request>,
    connected: bool,
    /// Every desired filter was granted once on this connection.
    settled: bool,
    /// Ask again for refused filters (after a reload).
    retry_refused: bool,
}

impl Subscriptions {
    /// Subscriptions asking for `filters` (a filter named twice keeps its highest QoS).
    pub(crate) fn new(filters: &[(String, u8)]) -> Self {
        Self {
            desired: desired(filters),
            ..Self::default()
        }
    }

    /// A connection was made; without `session_present` the broker holds none of ours.
    pub(crate) fn connected(&mut self, session_present: bool) {
        self.connected = true;
        self.granted.clear();
        self.refused.clear();
        self.stuck.clear();
        self.pending = None;
        self.settled = false;
        if !session_present {
            self.session.clear();
        }
        self.settle();
    }

    /// The connection broke: nothing is outstanding, nothing is granted. What the session
    /// may hold is kept (a persistent session outlives the connection).
    pub(crate) fn broken(&mut self) {
        self.connected = false;
        self.granted.clear();
        self.pending = None;
    }

    /// The route table now asks for `filters`; false when that is what it asked for before.
    pub(crate) fn set(&mut self, filters: &[(String, u8)]) -> bool {
        let desired = desired(filters);
        if desired == self.desired {
            return false;
        }
        self.desired = desired;
        let desired = &self.desired;
        self.refused
            .retain(|filter, qos| desired.get(filter) == Some(qos));
        self.stuck.clear();
        self.retry_refused = true;
        self.settle();
        true
    }

    /// The next packet to send, if any (none while one is outstanding or disconnected).
    /// Call [`Subscriptions::sent`] once it is queued.
    pub(crate) fn next(&self) -> Option<Request> {
        if !self.connected || self.pending.is_some() {
            return None;
        }
        let subscribe: Vec<(String, u8)> = self
            .desired
            .iter()
            .filter(|(filter, qos)| {
                self.granted.get(*filter) != Some(*qos)
                    && (self.retry_refused || self.refused.get(*filter) != Some(*qos))
            })
            .map(|(filter, qos)| (filter.clone(), *qos))
            .collect();
        if !subscribe.is_empty() {
            return Some(Request::Subscribe(subscribe));
        }
        self.session
            .iter()
            .find(|filter| !self.desired.contains_key(*filter) && !self.stuck.contains(*filter))
            .map(|filter| Request::Unsubscribe(filter.clone()))
    }

    /// `request` (from [`Subscriptions::next`]) was queued on the connection.
    pub(crate) fn sent(&mut self, request: Request) {
        if let Request::Subscribe(filters) = &request {
            self.session
                .extend(filters.iter().map(|(filter, _)| filter.clone()));
            self.retry_refused = false;
        }
        self.pending = Some(request);
        self.settle();
    }

    /// A SUBACK arrived with one result per filter of the outstanding SUBSCRIBE (missing
    /// results count as refused).
    pub(crate) fn subscribed(&mut self, results: &[Result<u8, String>]) -> Answered {
        let mut answered = Answered::default();
        let Some(Request::Subscribe(filters)) = self.pending.take() else {
            return answered;
        };
        for (index, (filter, qos)) in filters.into_iter().enumerate() {
            match results.get(index) {
                Some(Ok(_)) => {
                    self.refused.remove(&filter);
                    self.granted.insert(filter.clone(), qos);
                    answered.granted.push(filter);
                }
                failure => {
                    let why = match failure {
                        Some(Err(why)) => why.clone(),
                        _ => "no result in the SUBACK".to_owned(),
                    };
                    self.granted.remove(&filter);
                    self.refused.insert(filter.clone(), qos);
                    answered.refused.push((filter, why));
                }
            }
        }
        self.settle();
        answered
    }

    /// An UNSUBACK arrived for the outstanding UNSUBSCRIBE: the filter, and whether the
    /// broker removed it (MQTT 3.1.1 names no reason: removed).
    pub(crate) fn unsubscribed(
        &mut self,
        results: &[Result<(), String>],
    ) -> Option<(String, Result<(), String>)> {
        let Some(Request::Unsubscribe(filter)) = self.pending.take() else {
            return None;
        };
        let result = results.first().cloned().unwrap_or(Ok(()));
        match &result {
            Ok(()) => {
                self.session.remove(&filter);
                self.granted.remove(&filter);
            }
            Err(_) => {
                self.stuck.insert(filter.clone());
            }
        }
        Some((filter, result))
    }

    fn settle(&mut self) {
        if self.connected
            && self
                .desired
                .iter()
                .all(|(filter, qos)| self.granted.get(filter) == Some(qos))
        {
            self.settled = true;
        }
    }

    /// Connected, every filter granted once on this connection, and none refused.
    pub(crate) fn ready(&self) -> bool {
        self.connected && self.settled && self.refused.is_empty()
    }

    /// Connected, nothing outstanding and nothing left to send.
    pub(crate) fn idle(&self) -> bool {
        self.connected && self.pending.is_none() && self.next().is_none()
    }

    /// How many subscriptions the broker granted on this connection.
    pub(crate) fn granted(&self) -> usize {
        self.granted.len()
    }

    /// How many filters the route table asks for.
    pub(crate) fn wanted(&self) -> usize {
        self.desired.len()
    }
}

fn desired(filters: &[(String, u8)]) -> BTreeMap<String, u8> {
    let mut desired = BTreeMap::new();
    for (filter, qos) in filters {
        let entry = desired.entry(filter.clone()).or_insert(*qos);
        *entry = (*entry).max(*qos);
    }
    desired
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(list: &[(&str, u8)]) -> Vec<(String, u8)> {
        list.iter().map(|(f, q)| ((*f).to_owned(), *q)).collect()
    }

    /// Sends what `next` gives and answers it as granted, until idle; the requests sent.
    fn run(subs: &mut Subscriptions) -> Vec<Request> {
        let mut sent = Vec::new();
        while let Some(request) = subs.next() {
            subs.sent(request.clone());
            match &request {
                Request::Subscribe(list) => {
                    let results: Vec<_> = list.iter().map(|(_, q)| Ok(*q)).collect();
                    subs.subscribed(&results);
                }
                Request::Unsubscribe(_) => {
                    subs.unsubscribed(&[]);
                }
            }
            sent.push(request);
        }
        sent
    }

    #[test]
    fn a_connection_subscribes_every_filter_in_one_packet_and_is_ready_once_granted() {
        let mut subs = Subscriptions::new(&filters(&[("a/+", 1), ("b/#", 2)]));
        assert_eq!(subs.next(), None, "nothing is sent before a connection");
        subs.connected(false);
        let request = subs.next().unwrap();
        assert_eq!(
            request,
            Request::Subscribe(filters(&[("a/+", 1), ("b/#", 2)]))
        );
        subs.sent(request);
        assert!(!subs.ready());
        assert_eq!(subs.next(), None, "one request at a time");
        let answered = subs.subscribed(&[Ok(1), Ok(2)]);
        assert_eq!(answered.granted, vec!["a/+".to_owned(), "b/#".to_owned()]);
        assert!(subs.ready());
        assert!(subs.idle());
        assert_eq!(subs.granted(), 2);
    }

    #[test]
    fn no_filters_is_ready_at_once() {
        let mut subs = Subscriptions::new(&[]);
        assert!(!subs.ready());
        subs.connected(false);
        assert_eq!(subs.next(), None);
        assert!(subs.ready());
    }

    #[test]
    fn a_reload_subscribes_the_added_filter_first_then_unsubscribes_the_removed_one_staying_ready()
    {
        let mut subs = Subscriptions::new(&filters(&[("old/+", 1)]));
        subs.connected(false);
        run(&mut subs);
        assert!(subs.set(&filters(&[("new/+", 1)])));
        assert!(
            subs.ready(),
            "a reload's new filter does not turn readiness false"
        );
        let subscribe = subs.next().unwrap();
        assert_eq!(subscribe, Request::Subscribe(filters(&[("new/+", 1)])));
        subs.sent(subscribe);
        assert!(subs.ready(), "nor while its SUBACK is awaited");
        subs.subscribed(&[Ok(1)]);
        assert_eq!(subs.next(), Some(Request::Unsubscribe("old/+".into())));
        subs.sent(Request::Unsubscribe("old/+".into()));
        assert_eq!(
            subs.unsubscribed(&[Ok(())]),
            Some(("old/+".to_owned(), Ok(())))
        );
        assert!(subs.idle());
        assert!(subs.ready());
        assert_eq!(subs.granted(), 1);
    }

    #[test]
    fn the_same_filters_change_nothing() {
        let mut subs = Subscriptions::new(&filters(&[("a/+", 1)]));
        subs.connected(false);
        run(&mut subs);
        assert!(!subs.set(&filters(&[("a/+", 1)])));
        assert!(subs.idle());
    }

    #[test]
    fn a_changed_qos_subscribes_the_filter_again_and_a_changed_group_swaps_filters() {
        let mut subs = Subscriptions::new(&filters(&[("a/+", 1), ("b/+", 1)]));
        subs.connected(false);
        run(&mut subs);
        subs.set(&filters(&[("a/+", 2), ("$share/g/b/+", 1)]));
        let sent = run(&mut subs);
        assert_eq!(
            sent,
            vec![
                Request::Subscribe(filters(&[("$share/g/b/+", 1), ("a/+", 2)])),
                Request::Unsubscribe("b/+".into()),
            ],
            "the same filter with another QoS replaces its subscription; it is not unsubscribed"
        );
    }

    #[test]
    fn a_refused_filter_turns_readiness_false_until_no_route_asks_for_it() {
        let mut subs = Subscriptions::new(&filters(&[("a/+", 1)]));
        subs.connected(false);
        run(&mut subs);
        subs.set(&filters(&[("a/+", 1), ("secret/+", 1)]));
        let request = subs.next().unwrap();
        subs.sent(request);
        let answered = subs.subscribed(&[Err("NotAuthorized".into())]);
        assert_eq!(
            answered.refused,
            vec![("secret/+".to_owned(), "NotAuthorized".to_owned())]
        );
        assert!(!subs.ready());
        assert_eq!(
            subs.next(),
            None,
            "a refused filter is not asked for in a loop"
        );
        // A reload that still asks for it asks again; one that drops it makes it ready.
        subs.set(&filters(&[("a/+", 1), ("secret/+", 1), ("c/+", 1)]));
        assert_eq!(
            subs.next(),
            Some(Request::Subscribe(filters(&[("c/+", 1), ("secret/+", 1)])))
        );
        subs.sent(subs.next().unwrap());
        subs.subscribed(&[Ok(1), Err("NotAuthorized".into())]);
        assert!(!subs.ready());
        subs.set(&filters(&[("a/+", 1), ("c/+", 1)]));
        assert!(subs.ready());
        // The refused filter was never granted but the session may hold it: unsubscribed.
        assert_eq!(
            run(&mut subs),
            vec![Request::Unsubscribe("secret/+".into())]
        );
    }

    #[test]
    fn a_reconnect_subscribes_everything_again_and_readiness_waits_for_it() {
        let mut subs = Subscriptions::new(&filters(&[("a/+", 1)]));
        subs.connected(false);
        run(&mut subs);
        subs.broken();
        assert!(!subs.ready());
        assert_eq!(subs.next(), None);
        subs.connected(true);
        assert!(!subs.ready());
        assert_eq!(
            run(&mut subs),
            vec![Request::Subscribe(filters(&[("a/+", 1)]))]
        );
        assert!(subs.ready());
    }

    #[test]
    fn a_filter_removed_while_disconnected_is_unsubscribed_when_the_session_is_kept() {
        let mut subs = Subscriptions::new(&filters(&[("a/+", 1)]));
        subs.connected(false);
        run(&mut subs);
        subs.broken();
        subs.set(&filters(&[("b/+", 1)]));
        subs.connected(true);
        assert_eq!(
            run(&mut subs),
            vec![
                Request::Subscribe(filters(&[("b/+", 1)])),
                Request::Unsubscribe("a/+".into())
            ]
        );
        // Without the session, the broker holds nothing to remove.
        subs.broken();
        subs.set(&filters(&[("c/+", 1)]));
        subs.connected(false);
        assert_eq!(
            run(&mut subs),
            vec![Request::Subscribe(filters(&[("c/+", 1)]))]
        );
    }

    #[test]
    fn an_unsubscribe_in_flight_when_the_connection_breaks_is_sent_again() {
        let mut subs = Subscriptions::new(&filters(&[("a/+", 1)]));
        subs.connected(false);
        run(&mut subs);
        subs.set(&[]);
        subs.sent(subs.next().unwrap());
        subs.broken();
        subs.connected(true);
        assert_eq!(run(&mut subs), vec![Request::Unsubscribe("a/+".into())]);
    }

    #[test]
    fn a_failed_unsubscribe_is_not_sent_in_a_loop() {
        let mut subs = Subscriptions::new(&filters(&[("a/+", 1)]));
        subs.connected(false);
        run(&mut subs);
        subs.set(&[]);
        subs.sent(subs.next().unwrap());
        assert_eq!(
            subs.unsubscribed(&[Err("NotAuthorized".into())]),
            Some(("a/+".to_owned(), Err("NotAuthorized".to_owned())))
        );
        assert_eq!(subs.next(), None);
        assert!(subs.ready());
    }

    #[test]
    fn answers_without_a_request_are_ignored() {
        let mut subs = Subscriptions::new(&filters(&[("a/+", 1)]));
        subs.connected(false);
        assert_eq!(subs.subscribed(&[Ok(1)]), Answered::default());
        assert_eq!(subs.unsubscribed(&[]), None);
        assert!(!subs.ready());
    }
}
