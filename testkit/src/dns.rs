//! A DNS server double for tests: answers A and AAAA questions on 127.0.0.1 (UDP, a random
//! port) from a script, counts the questions, and can answer a name differently from one
//! question to the next (to play a name that rebinds to another address).
//!
//! Each name has a sequence of answers; the n-th A question for a name gets the IPv4 addresses
//! of the n-th answer (the last answer repeats), likewise for AAAA, so a dual-stack resolver
//! that asks both for one lookup moves both along together. Names are matched without case and
//! without a trailing dot. A name with no script gets NXDOMAIN; a scripted name with no address
//! of the asked family gets an empty answer. Every answer has a TTL of 0, so resolvers ask again
//! each time. The message format is the few bytes of RFC 1035 a stub resolver needs.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u16 = 1;
const RCODE_NXDOMAIN: u16 = 3;
const RCODE_NOTIMP: u16 = 4;

/// The running double; it stops when dropped.
pub struct DnsDouble {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    /// name -> successive answers.
    script: HashMap<String, Vec<Vec<IpAddr>>>,
    /// (name, type) -> questions asked so far.
    asked: HashMap<(String, u16), usize>,
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsDouble {
    /// Starts the double on 127.0.0.1 with an empty script.
    pub async fn start() -> DnsDouble {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind the DNS double");
        let addr = socket.local_addr().expect("DNS double address");
        let state = Arc::new(Mutex::new(State::default()));
        let task = tokio::spawn(serve(socket, state.clone()));
        DnsDouble { addr, state, task }
    }

    /// The address to use as a name server.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers `name` with `addrs`, every time.
    pub fn answer(&self, name: &str, addrs: &[IpAddr]) {
        self.script(name, vec![addrs.to_vec()]);
    }

    /// Answers `name` with `answers[0]` the first time, `answers[1]` the second, and so on; the
    /// last answer repeats. Counted per record type (see the module's documentation).
    pub fn script(&self, name: &str, answers: Vec<Vec<IpAddr>>) {
        assert!(!answers.is_empty(), "a script needs at least one answer");
        self.state
            .lock()
            .unwrap()
            .script
            .insert(normalize(name), answers);
    }

    /// How many questions of any type were asked about `name`.
    pub fn queries(&self, name: &str) -> usize {
        let name = normalize(name);
        let state = self.state.lock().unwrap();
        state
            .asked
            .iter()
            .filter(|((asked, _), _)| *asked == name)
            .map(|(_, count)| count)
            .sum()
    }

    /// How many A (IPv4) questions were asked about `name`: one per lookup of the name.
    pub fn a_queries(&self, name: &str) -> usize {
        let state = self.state.lock().unwrap();
        state
            .asked
            .get(&(normalize(name), TYPE_A))
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for DnsDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(socket: UdpSocket, state: Arc<Mutex<State>>) {
    let mut buf = [0u8; 1500];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = respond(&buf[..len], &state) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

/// The reply to one query message, or `None` for bytes too short to carry an ID.
fn respond(query: &[u8], state: &Mutex<State>) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let id = [query[0], query[1]];
    let flags = u16::from_be_bytes([query[2], query[3]]);
    let opcode = (flags >> 11) & 0xf;
    let questions = u16::from_be_bytes([query[4], query[5]]);
    // QR=1, the query's opcode and RD, RA=1.
    let reply_flags = 0x8080 | (flags & 0x7900);
    let error = |rcode: u16| {
        let mut reply = id.to_vec();
        reply.extend_from_slice(&(reply_flags | rcode).to_be_bytes());
        reply.extend_from_slice(&[0; 8]);
        Some(reply)
    };
    if opcode != 0 || questions != 1 {
        return error(RCODE_NOTIMP);
    }
    let Some((name, question_end)) = read_name(query, 12) else {
        return error(RCODE_FORMERR);
    };
    let Some(tail) = query.get(question_end..question_end + 4) else {
        return error(RCODE_FORMERR);
    };
    let qtype = u16::from_be_bytes([tail[0], tail[1]]);
    let qclass = u16::from_be_bytes([tail[2], tail[3]]);

    let answer: Option<Vec<IpAddr>> = {
        let mut state = state.lock().unwrap();
        let asked = state.asked.entry((name.clone(), qtype)).or_insert(0);
        let nth = *asked;
        *asked += 1;
        state
            .script
            .get(&name)
            .map(|answers| answers[nth.min(answers.len() - 1)].clone())
    };
    let Some(addrs) = answer else {
        let mut reply = error(RCODE_NXDOMAIN)?;
        reply[5] = 1; // echo the question
        reply.extend_from_slice(&query[12..question_end + 4]);
        return Some(reply);
    };
    let records: Vec<IpAddr> = addrs
        .into_iter()
        .filter(|addr| {
            qclass == CLASS_IN
                && match addr {
                    IpAddr::V4(_) => qtype == TYPE_A,
                    IpAddr::V6(_) => qtype == TYPE_AAAA,
                }
        })
        .collect();

    let mut reply = id.to_vec();
    reply.extend_from_slice(&reply_flags.to_be_bytes());
    reply.extend_from_slice(&1u16.to_be_bytes());
    reply.extend_from_slice(&(records.len() as u16).to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]);
    reply.extend_from_slice(&query[12..question_end + 4]);
    for addr in records {
        reply.extend_from_slice(&[0xc0, 12]); // the question's name
        reply.extend_from_slice(&qtype.to_be_bytes());
        reply.extend_from_slice(&CLASS_IN.to_be_bytes());
        reply.extend_from_slice(&0u32.to_be_bytes()); // TTL
        match addr {
            IpAddr::V4(v4) => {
                reply.extend_from_slice(&4u16.to_be_bytes());
                reply.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                reply.extend_from_slice(&16u16.to_be_bytes());
                reply.extend_from_slice(&v6.octets());
            }
        }
    }
    Some(reply)
}

/// The question's name (normalized) and the offset just past it; no compression in questions.
fn read_name(message: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*message.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        let label = message.get(at..at + len)?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        at += len;
    }
    Some((normalize(&labels.join(".")), at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut msg = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            msg.push(label.len() as u8);
            msg.extend_from_slice(label.as_bytes());
        }
        msg.push(0);
        msg.extend_from_slice(&qtype.to_be_bytes());
        msg.extend_from_slice(&CLASS_IN.to_be_bytes());
        msg
    }

    async fn ask(double: &DnsDouble, name: &str, qtype: u16) -> Vec<u8> {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket
            .send_to(&query(name, qtype), double.addr())
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let len = socket.recv(&mut buf).await.unwrap();
        buf[..len].to_vec()
    }

    #[tokio::test]
    async fn answers_follow_the_script_and_are_counted() {
        let double = DnsDouble::start().await;
        double.script(
            "Rebind.Test.",
            vec![
                vec!["192.0.2.1".parse().unwrap()],
                vec!["127.0.0.1".parse().unwrap()],
            ],
        );
        let first = ask(&double, "rebind.test", TYPE_A).await;
        assert_eq!(&first[..2], &[0x12, 0x34]);
        assert_eq!(u16::from_be_bytes([first[6], first[7]]), 1, "one answer");
        assert_eq!(&first[first.len() - 4..], &[192, 0, 2, 1]);
        let second = ask(&double, "REBIND.test", TYPE_A).await;
        assert_eq!(&second[second.len() - 4..], &[127, 0, 0, 1]);
        let third = ask(&double, "rebind.test", TYPE_A).await;
        assert_eq!(&third[third.len() - 4..], &[127, 0, 0, 1]);
        // No IPv6 address scripted: an empty answer, not an error.
        let aaaa = ask(&double, "rebind.test", TYPE_AAAA).await;
        assert_eq!(aaaa[3] & 0xf, 0);
        assert_eq!(u16::from_be_bytes([aaaa[6], aaaa[7]]), 0);
        assert_eq!(double.a_queries("rebind.test"), 3);
        assert_eq!(double.queries("rebind.test"), 4);
        let unknown = ask(&double, "unknown.test", TYPE_A).await;
        assert_eq!(unknown[3] & 0xf, RCODE_NXDOMAIN as u8);
    }
}
