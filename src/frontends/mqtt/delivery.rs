//! The delivery ledger: a pure state machine (no IO) deciding which messages may be worked on
//! and which acknowledgements may go out.
//!
//! - Acknowledgements leave in the order the messages arrived on the connection
//!   (MQTT-4.6.0-2): a finished message waits for every earlier one.
//! - A message is acknowledged only when its work is done (the backend answered, or its error
//!   or dead letter was taken over by the broker); work abandoned at shutdown is never
//!   acknowledged, so the broker delivers it again.
//! - Every connection is a generation. Work from an older one may finish, but its
//!   acknowledgement is dropped: on the new connection the packet id may name another message.
//! - At most `capacity` messages are worked on at once, whatever their generation.
//! - QoS 2 is exactly once within a session: a redelivery of a packet id whose PUBREL has not
//!   arrived yet is not worked on again; it is acknowledged once the first delivery's work is
//!   done (MQTT-4.3.3-10).

use std::collections::{HashMap, VecDeque};

/// A message admitted for work; hand it back to [`Ledger::finish`] or [`Ledger::abandon`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    generation: u64,
    seq: u64,
    pkid: u16,
    qos: u8,
}

/// An acknowledgement to send: PUBACK (QoS 1) or PUBREC (QoS 2) for `pkid`, valid on the
/// connection of `generation` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ack {
    pub(crate) generation: u64,
    pub(crate) pkid: u16,
    pub(crate) qos: u8,
}

/// What to do with a delivered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Work on it.
    Work(Ticket),
    /// A QoS 2 redelivery: nothing to work on; its acknowledgement is queued in order.
    Duplicate,
    /// It came on an older connection than the current one: ignore it (it is delivered again).
    Stale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Working,
    Done,
    Abandoned,
}

#[derive(Debug)]
struct Slot {
    seq: u64,
    pkid: u16,
    qos: u8,
    state: SlotState,
}

/// A QoS 2 packet id of the session, from its first delivery to its PUBREL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exactly {
    /// Being worked on; a redelivery on the current connection waits in slot `waiting`.
    Working { waiting: Option<u64> },
    /// Worked on; only the acknowledgement is left to the broker.
    Done,
}

/// The in-flight messages of one bridge connection.
#[derive(Debug)]
pub(crate) struct Ledger {
    capacity: usize,
    generation: u64,
    next_seq: u64,
    /// Messages of the current generation with QoS 1 or 2, in arrival order.
    slots: VecDeque<Slot>,
    /// Work under way, any generation, any QoS.
    working: usize,
    exactly_once: HashMap<u16, Exactly>,
}

impl Ledger {
    /// A ledger allowing `capacity` messages in work at once (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            generation: 0,
            next_seq: 0,
            slots: VecDeque::new(),
            working: 0,
            exactly_once: HashMap::new(),
        }
    }

    /// The current connection's generation.
    #[cfg(test)]
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether another message may be admitted.
    pub(crate) fn has_room(&self) -> bool {
        self.working < self.capacity
    }

    /// How many messages are worked on.
    pub(crate) fn working(&self) -> usize {
        self.working
    }

    /// A new connection of generation `generation` is up. Pending acknowledgements of the
    /// old one are forgotten; without a session, so are the QoS 2 packet ids.
    pub(crate) fn connected(&mut self, generation: u64, session_present: bool) {
        self.generation = generation;
        self.slots.clear();
        if !session_present {
            self.exactly_once.clear();
        }
    }

    /// A message delivered on the connection of `generation`.
    pub(crate) fn admit(
        &mut self,
        generation: u64,
        pkid: u16,
        qos: u8,
        out: &mut Vec<Ack>,
    ) -> Admission {
        if generation != self.generation {
            return Admission::Stale;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if qos == 2 {
            match self.exactly_once.get_mut(&pkid) {
                Some(Exactly::Done) => {
                    self.slots.push_back(Slot {
                        seq,
                        pkid,
                        qos,
                        state: SlotState::Done,
                    });
                    self.release(out);
                    return Admission::Duplicate;
                }
                Some(Exactly::Working { waiting }) => {
                    *waiting = Some(seq);
                    self.slots.push_back(Slot {
                        seq,
                        pkid,
                        qos,
                        state: SlotState::Working,
                    });
                    return Admission::Duplicate;
                }
                None => {
                    self.exactly_once
                        .insert(pkid, Exactly::Working { waiting: None });
                }
            }
        }
        if qos > 0 {
            self.slots.push_back(Slot {
                seq,
                pkid,
                qos,
                state: SlotState::Working,
            });
        }
        self.working += 1;
        Admission::Work(Ticket {
            generation,
            seq,
            pkid,
            qos,
        })
    }

    /// The work of `ticket` is done: its acknowledgement, and any that waited for it, are
    /// appended to `out` in arrival order.
    pub(crate) fn finish(&mut self, ticket: Ticket, out: &mut Vec<Ack>) {
        self.working = self.working.saturating_sub(1);
        if ticket.qos == 2 {
            if let Some(Exactly::Working { waiting }) = self.exactly_once.get(&ticket.pkid).copied()
            {
                self.exactly_once.insert(ticket.pkid, Exactly::Done);
                if let Some(waiting) = waiting {
                    self.mark(waiting, SlotState::Done);
                }
            }
        }
        if ticket.generation == self.generation {
            self.mark(ticket.seq, SlotState::Done);
        }
        self.release(out);
    }

    /// The work of `ticket` stopped without a result (shutdown): it is never acknowledged, and
    /// holds back every later acknowledgement of its connection.
    pub(crate) fn abandon(&mut self, ticket: Ticket) {
        self.working = self.working.saturating_sub(1);
        if ticket.qos == 2 {
            self.exactly_once.remove(&ticket.pkid);
        }
        if ticket.generation == self.generation {
            self.mark(ticket.seq, SlotState::Abandoned);
        }
    }

    /// The broker released a QoS 2 packet id (PUBREL): it may name a new message now.
    pub(crate) fn released(&mut self, pkid: u16) {
        if self.exactly_once.get(&pkid) == Some(&Exactly::Done) {
            self.exactly_once.remove(&pkid);
        }
    }

    fn mark(&mut self, seq: u64, state: SlotState) {
        // Slots are in seq order; the search is short because acknowledgements drain the
        // front as work finishes.
        if let Ok(at) = self.slots.binary_search_by_key(&seq, |s| s.seq) {
            self.slots[at].state = state;
        }
    }

    fn release(&mut self, out: &mut Vec<Ack>) {
        while let Some(front) = self.slots.front() {
            if front.state != SlotState::Done {
                break;
            }
            out.push(Ack {
                generation: self.generation,
                pkid: front.pkid,
                qos: front.qos,
            });
            self.slots.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(ledger: &mut Ledger, pkid: u16, qos: u8) -> Ticket {
        let mut acks = Vec::new();
        match ledger.admit(ledger.generation(), pkid, qos, &mut acks) {
            Admission::Work(ticket) => ticket,
            other => panic!("expected work, got {other:?}"),
        }
    }

    fn finish(ledger: &mut Ledger, ticket: Ticket) -> Vec<u16> {
        let mut acks = Vec::new();
        ledger.finish(ticket, &mut acks);
        acks.iter().map(|a| a.pkid).collect()
    }

    #[test]
    fn acknowledgements_leave_in_arrival_order() {
        let mut ledger = Ledger::new(8);
        let first = work(&mut ledger, 1, 1);
        let second = work(&mut ledger, 2, 1);
        let third = work(&mut ledger, 3, 1);
        assert_eq!(finish(&mut ledger, third), Vec::<u16>::new());
        assert_eq!(finish(&mut ledger, first), vec![1]);
        assert_eq!(finish(&mut ledger, second), vec![2, 3]);
        assert_eq!(ledger.working(), 0);
    }

    #[test]
    fn qos_0_messages_take_room_but_hold_back_no_acknowledgement() {
        let mut ledger = Ledger::new(2);
        let fire_and_forget = work(&mut ledger, 0, 0);
        let counted = work(&mut ledger, 7, 1);
        assert!(!ledger.has_room());
        assert_eq!(finish(&mut ledger, counted), vec![7]);
        assert!(ledger.has_room());
        assert_eq!(finish(&mut ledger, fire_and_forget), Vec::<u16>::new());
    }

    #[test]
    fn room_is_bounded_by_work_of_every_generation() {
        let mut ledger = Ledger::new(2);
        let old = work(&mut ledger, 1, 1);
        ledger.connected(1, true);
        let _new = work(&mut ledger, 1, 1);
        assert!(!ledger.has_room(), "the old connection's work still counts");
        assert_eq!(finish(&mut ledger, old), Vec::<u16>::new());
        assert!(ledger.has_room());
    }

    #[test]
    fn an_acknowledgement_of_an_older_connection_is_dropped() {
        let mut ledger = Ledger::new(4);
        let before = work(&mut ledger, 5, 1);
        ledger.connected(1, true);
        let mut acks = Vec::new();
        assert_eq!(ledger.admit(0, 6, 1, &mut acks), Admission::Stale);
        let redelivered = work(&mut ledger, 5, 1);
        assert_eq!(finish(&mut ledger, before), Vec::<u16>::new());
        let mut acks = Vec::new();
        ledger.finish(redelivered, &mut acks);
        assert_eq!(
            acks,
            vec![Ack {
                generation: 1,
                pkid: 5,
                qos: 1
            }]
        );
    }

    #[test]
    fn abandoned_work_is_never_acknowledged_and_holds_later_ones_back() {
        let mut ledger = Ledger::new(4);
        let abandoned = work(&mut ledger, 1, 1);
        let later = work(&mut ledger, 2, 1);
        ledger.abandon(abandoned);
        assert_eq!(finish(&mut ledger, later), Vec::<u16>::new());
        assert_eq!(ledger.working(), 0);
    }

    #[test]
    fn a_qos_2_redelivery_is_worked_on_once_and_acknowledged_when_the_first_finishes() {
        let mut ledger = Ledger::new(4);
        let first = work(&mut ledger, 9, 2);
        ledger.connected(1, true);
        let mut acks = Vec::new();
        assert_eq!(ledger.admit(1, 9, 2, &mut acks), Admission::Duplicate);
        assert!(acks.is_empty());
        let mut acks = Vec::new();
        ledger.finish(first, &mut acks);
        assert_eq!(
            acks,
            vec![Ack {
                generation: 1,
                pkid: 9,
                qos: 2
            }]
        );
        // Redelivered again before PUBREL: acknowledged at once, not worked on.
        let mut acks = Vec::new();
        assert_eq!(ledger.admit(1, 9, 2, &mut acks), Admission::Duplicate);
        assert_eq!(acks.len(), 1);
        // After PUBREL the packet id names a new message.
        ledger.released(9);
        let again = work(&mut ledger, 9, 2);
        assert_eq!(finish(&mut ledger, again), vec![9]);
    }

    #[test]
    fn a_lost_session_forgets_qos_2_packet_ids() {
        let mut ledger = Ledger::new(4);
        let first = work(&mut ledger, 3, 2);
        assert_eq!(finish(&mut ledger, first), vec![3]);
        ledger.connected(1, false);
        let fresh = work(&mut ledger, 3, 2);
        assert_eq!(finish(&mut ledger, fresh), vec![3]);
    }
}
