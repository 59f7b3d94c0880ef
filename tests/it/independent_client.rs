//! A WeChat-side client written apart from the service's `wechat` module, straight from
//! the platform's description: it signs, encrypts pushes and opens sealed replies with
//! the RustCrypto primitives alone, so the service is checked against the protocol and
//! not against itself.

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use sha1::{Digest, Sha1};

/// WeChat's published sample values (the official message-crypto sample).
pub const SAMPLE_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const SAMPLE_TOKEN: &str = "pamtest";
pub const SAMPLE_APPID: &str = "wxb11529c136998cb6";

pub fn sha1_signature(parts: &[&str]) -> String {
    let mut parts = parts.to_vec();
    parts.sort();
    hex::encode(Sha1::digest(parts.concat().as_bytes()))
}

fn key_bytes(key: &str) -> [u8; 32] {
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    engine
        .decode(format!("{key}="))
        .unwrap()
        .try_into()
        .unwrap()
}

pub fn encrypt(key: &str, appid: &str, xml: &str) -> String {
    let k = key_bytes(key);
    let mut plain = b"0123456789abcdef".to_vec();
    plain.extend_from_slice(&(xml.len() as u32).to_be_bytes());
    plain.extend_from_slice(xml.as_bytes());
    plain.extend_from_slice(appid.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let n = plain.len();
    let iv: [u8; 16] = k[..16].try_into().unwrap();
    let out = cbc::Encryptor::<Aes256>::new(&k.into(), &iv.into())
        .encrypt_padded_mut::<NoPadding>(&mut plain, n)
        .unwrap();
    STANDARD.encode(out)
}

/// Opens a ciphertext; returns the XML and the appid found inside.
pub fn decrypt(key: &str, encrypt: &str) -> (String, String) {
    let k = key_bytes(key);
    let iv: [u8; 16] = k[..16].try_into().unwrap();
    let mut buf = STANDARD.decode(encrypt).unwrap();
    let plain = cbc::Decryptor::<Aes256>::new(&k.into(), &iv.into())
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .unwrap();
    let pad = *plain.last().unwrap() as usize;
    let content = &plain[..plain.len() - pad];
    let len = u32::from_be_bytes(content[16..20].try_into().unwrap()) as usize;
    let xml = String::from_utf8(content[20..20 + len].to_vec()).unwrap();
    let appid = String::from_utf8(content[20 + len..].to_vec()).unwrap();
    (xml, appid)
}

/// The text of `<Name>` in a flat XML document, CDATA or not.
pub fn field(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    let raw = &xml[start..end];
    Some(
        raw.strip_prefix("<![CDATA[")
            .and_then(|r| r.strip_suffix("]]>"))
            .unwrap_or(raw)
            .to_owned(),
    )
}
