//! Pushed XML → typed events.
//!
//! WeChat pushes every event and message as one flat `<xml>` element of CDATA fields.
//! We read it with quick-xml's event reader (no DTD processing, so no entity
//! expansion), check each field we rely on, and classify the push. Scans are the events
//! that matter here: a user who does not follow yet scans and gets `subscribe` with
//! `EventKey=qrscene_<scene>`; a follower gets `SCAN` with `EventKey=<scene>`.
//! <https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_event_pushes.html>

/// Nesting deeper than this is not a WeChat push (its deepest, `SendPicsInfo`, is 5).
const MAX_DEPTH: usize = 8;
/// Nor are more elements than this.
const MAX_ELEMENTS: usize = 512;

use super::scene::Scene;

/// The longest openid-like identifier we accept (WeChat's are 28 characters).
const MAX_ID_LEN: usize = 64;
/// A user scanned one of the account's parametric QR codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanEvent {
    /// The account's original id (`ToUserName`).
    pub account: String,
    pub openid: String,
    /// WeChat's `CreateTime`, Unix seconds.
    pub create_time: i64,
    /// True for `subscribe` (the scan made them follow), false for `SCAN`.
    pub new_follower: bool,
    pub scene: Scene,
    pub ticket: Option<String>,
}

impl ScanEvent {
    /// What identifies this push across WeChat's retries of it: WeChat's own advice
    /// (FromUserName + CreateTime), plus the event and scene, which a retry repeats
    /// too, so two different codes scanned within one second stay two scans.
    ///
    /// The time comes first, zero-padded, so identities sort in the order pushes arrive
    /// and a unique index on them grows at its end: led by the openid, every scan
    /// landed on a page of its own across the whole index, and each commit wrote (and
    /// fsynced) one page per scan for it.
    pub fn identity(&self) -> String {
        let event = if self.new_follower {
            "subscribe"
        } else {
            "SCAN"
        };
        format!(
            "{:012}|{}|{}|{}",
            self.create_time, self.openid, event, self.scene
        )
    }
}

/// What a push is, as far as this service cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    Scan(ScanEvent),
    /// The user stopped following the account (`CreateTime` identifies the push).
    Unsubscribe {
        account: String,
        openid: String,
        create_time: i64,
    },
    /// Any other event or message: answered with `success` and logged.
    Other {
        account: String,
        openid: String,
        msg_type: String,
        event: Option<String>,
    },
}

impl Push {
    pub fn account(&self) -> &str {
        match self {
            Push::Scan(scan) => &scan.account,
            Push::Other { account, .. } | Push::Unsubscribe { account, .. } => account,
        }
    }

    pub fn openid(&self) -> &str {
        match self {
            Push::Scan(scan) => &scan.openid,
            Push::Other { openid, .. } | Push::Unsubscribe { openid, .. } => openid,
        }
    }
}

/// Why a push was refused; the text goes back to the sender in the 400 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MalformedPush(pub String);

fn malformed(reason: impl Into<String>) -> MalformedPush {
    MalformedPush(reason.into())
}

/// Reads the fields named `names` from `body`, the text of the root element's children
/// of those names, in one pass that also refuses what WeChat never sends: non-UTF-8, a
/// DOCTYPE (so no entity declarations, nothing to expand), deep nesting, too many
/// elements. Only XML's five predefined entities and character references are
/// resolved. Unknown children are skipped; a known one given twice is refused. A field's
/// CDATA is kept as it is; whitespace at the ends of its plain text, and blank text
/// before a CDATA section or the field's end, is layout and dropped (quick-xml's
/// deserializer, used before, kept it, so a pretty-printed `<MsgType>` did not read as
/// `event`).
///
/// Written against quick-xml's event reader rather than its serde deserializer: the
/// deserializer, after a first pass for these checks, cost most of a push's parsing.
fn read_fields<const N: usize>(
    body: &[u8],
    names: [&str; N],
) -> Result<[Option<String>; N], MalformedPush> {
    use quick_xml::events::Event;

    let invalid = |e: &dyn std::fmt::Display| malformed(format!("invalid XML: {e}"));
    let text = std::str::from_utf8(body).map_err(|_| malformed("body is not UTF-8"))?;
    if text.trim().is_empty() {
        return Err(malformed("body is empty"));
    }
    let mut reader = quick_xml::Reader::from_str(text);
    let mut fields: [Option<String>; N] = std::array::from_fn(|_| None);
    let mut has_cdata = [false; N];
    // The field being read: its index in `names`, while inside it at depth 2.
    let mut reading: Option<usize> = None;
    // Whitespace-only text seen in the field being read: content if more text follows,
    // layout if CDATA or the field's end does.
    let mut blank = String::new();
    let (mut depth, mut elements, mut roots) = (0usize, 0usize, 0usize);
    loop {
        let event = reader.read_event().map_err(|e| invalid(&e))?;
        match event {
            Event::DocType(_) => {
                return Err(malformed(
                    "DOCTYPE and entity declarations are not accepted",
                ));
            }
            Event::Start(ref tag) | Event::Empty(ref tag) => {
                let empty = matches!(event, Event::Empty(_));
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(malformed("XML has too many elements"));
                }
                if depth == 0 {
                    roots += 1;
                    if roots > 1 {
                        return Err(malformed("invalid XML: more than one root element"));
                    }
                }
                if depth == 1 {
                    let name = tag.name();
                    if let Some(i) = names.iter().position(|n| n.as_bytes() == name.as_ref()) {
                        if fields[i].is_some() {
                            return Err(malformed(format!(
                                "invalid XML: duplicate field `{}`",
                                names[i]
                            )));
                        }
                        fields[i] = Some(String::new());
                        reading = (!empty).then_some(i);
                    }
                } else if depth == 2
                    && let Some(i) = reading
                {
                    return Err(malformed(format!(
                        "invalid XML: {} holds an element",
                        names[i]
                    )));
                }
                if !empty {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(malformed("XML is nested too deeply"));
                    }
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                blank.clear();
                if depth == 1
                    && let Some(i) = reading.take()
                    && !has_cdata[i]
                    && let Some(field) = &mut fields[i]
                {
                    let trimmed = field.trim();
                    if trimmed.len() != field.len() {
                        *field = trimmed.to_owned();
                    }
                }
            }
            Event::Text(t) => {
                let t = t.decode().map_err(|e| invalid(&e))?;
                match reading {
                    Some(_) if t.trim().is_empty() => blank.push_str(&t),
                    Some(i) => {
                        push_text(&mut fields[i], &blank);
                        blank.clear();
                        push_text(&mut fields[i], &t);
                    }
                    None if depth == 0 && !t.trim().is_empty() => {
                        return Err(malformed("invalid XML: text outside the root element"));
                    }
                    None => {}
                }
            }
            Event::CData(t) => {
                if let Some(i) = reading {
                    has_cdata[i] = true;
                    blank.clear();
                    push_text(&mut fields[i], &t.decode().map_err(|e| invalid(&e))?);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| invalid(&e))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| invalid(&e))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| {
                                malformed(format!("invalid XML: unknown entity &{name};"))
                            })?
                            .to_owned()
                    }
                };
                if depth == 0 {
                    return Err(malformed("invalid XML: text outside the root element"));
                }
                if let Some(i) = reading {
                    push_text(&mut fields[i], &blank);
                    blank.clear();
                    push_text(&mut fields[i], &resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if depth != 0 {
        return Err(malformed("invalid XML: an element is not closed"));
    }
    if roots == 0 {
        return Err(malformed("invalid XML: no root element"));
    }
    Ok(fields)
}

fn push_text(field: &mut Option<String>, piece: &str) {
    field.get_or_insert_with(String::new).push_str(piece);
}

/// The `Encrypt` field of an AES-mode push (safe mode carries only that; compatible
/// mode carries the plaintext fields too, and the ciphertext is what counts).
pub fn encrypted_part(body: &[u8]) -> Result<String, MalformedPush> {
    let [encrypt] = read_fields(body, ["Encrypt"])?;
    encrypt
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| malformed("Encrypt is missing"))
}

/// Parses one pushed XML document.
pub fn parse(body: &[u8]) -> Result<Push, MalformedPush> {
    let [
        to_user_name,
        from_user_name,
        create_time,
        msg_type,
        event,
        event_key,
        ticket,
        msg_id,
    ] = read_fields(
        body,
        [
            "ToUserName",
            "FromUserName",
            "CreateTime",
            "MsgType",
            "Event",
            "EventKey",
            "Ticket",
            "MsgId",
        ],
    )?;

    let account = required_id("ToUserName", to_user_name)?;
    let openid = required_id("FromUserName", from_user_name)?;
    let create_time = create_time
        .as_deref()
        .map(str::trim)
        .ok_or_else(|| malformed("CreateTime is missing"))?
        .parse::<i64>()
        .ok()
        .filter(|t| *t > 0)
        .ok_or_else(|| malformed("CreateTime is not a positive integer"))?;
    let msg_type = msg_type
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| malformed("MsgType is missing"))?;
    if let Some(id) = &msg_id
        && id.trim().parse::<u64>().is_err()
    {
        return Err(malformed("MsgId is not an integer"));
    }

    let event = event.filter(|e| !e.is_empty());
    let key = event_key.filter(|k| !k.is_empty());
    let ticket = ticket.filter(|t| !t.is_empty());
    if let Some(t) = &ticket
        && t.len() > 255
    {
        return Err(malformed("Ticket is longer than 255 bytes"));
    }

    // subscribe without a key is a plain follow; with `qrscene_` it came through a code.
    let scan = match (msg_type.as_str(), event.as_deref(), key.as_deref()) {
        ("event", Some("subscribe"), Some(key)) => match key.strip_prefix("qrscene_") {
            Some(scene) => Some((true, scene_of(scene)?)),
            None => None,
        },
        ("event", Some("SCAN"), Some(key)) => Some((false, scene_of(key)?)),
        ("event", Some("SCAN"), None) => return Err(malformed("SCAN event without EventKey")),
        _ => None,
    };
    Ok(match scan {
        Some((new_follower, scene)) => Push::Scan(ScanEvent {
            account,
            openid,
            create_time,
            new_follower,
            scene,
            ticket,
        }),
        None if msg_type == "event" && event.as_deref() == Some("unsubscribe") => {
            Push::Unsubscribe {
                account,
                openid,
                create_time,
            }
        }
        None => Push::Other {
            account,
            openid,
            msg_type,
            event,
        },
    })
}

fn scene_of(value: &str) -> Result<Scene, MalformedPush> {
    Scene::parse(value)
        .ok_or_else(|| malformed("EventKey does not carry a valid scene (1 to 64 characters)"))
}

fn required_id(name: &str, value: Option<String>) -> Result<String, MalformedPush> {
    let value = value.map(|v| v.trim().to_owned()).unwrap_or_default();
    if value.is_empty() {
        return Err(malformed(format!("{name} is missing")));
    }
    if value.len() > MAX_ID_LEN
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(malformed(format!("{name} is not a WeChat id")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests;
