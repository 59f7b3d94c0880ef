//! Message encryption for compatible and safe mode (`EncodingAESKey`).
//!
//! AES-256-CBC; key = base64(EncodingAESKey + "="), IV = the key's first 16 bytes;
//! PKCS#7 padding to 32-byte blocks (not AES's 16); plaintext = 16 random bytes ‖ 4-byte
//! big-endian length ‖ XML ‖ appid. The appid inside the ciphertext is checked: a push
//! encrypted for another account is refused even if the key matches. After a key
//! rotation the previous key is tried when the current one fails, as WeChat advises.
//! <https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html>

use aes::Aes256;
use base64::Engine;
use base64::alphabet::STANDARD as STANDARD_ALPHABET;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rand::RngCore;

use super::signature;

/// WeChat pads to multiples of 32 bytes.
const PAD_BLOCK: usize = 32;
/// Pushes are small; a ciphertext beyond this is not WeChat's.
const MAX_CIPHERTEXT: usize = 64 * 1024;

/// Why a ciphertext was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("Encrypt is not valid base64")]
    Base64,
    #[error("ciphertext is not a whole number of AES blocks")]
    BlockLength,
    #[error("bad padding")]
    Padding,
    #[error("decrypted message is malformed")]
    Malformed,
    /// Decrypted fine, but for another account.
    #[error("message is for another appid")]
    WrongAppId,
}

/// An EncodingAESKey that was not 43 characters of base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be exactly 43 base64 characters")]
pub struct InvalidKey;

/// A 32-byte AES key (its first 16 bytes are the IV).
#[derive(Clone)]
pub struct AesKey([u8; 32]);

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey([redacted])")
    }
}

impl AesKey {
    /// Decodes an EncodingAESKey. The 43rd character may carry non-zero trailing bits
    /// (WeChat's own sample key does), so those are allowed.
    pub fn from_encoding_aes_key(key: &str) -> Result<Self, InvalidKey> {
        if key.len() != 43 {
            return Err(InvalidKey);
        }
        let lenient = GeneralPurpose::new(
            &STANDARD_ALPHABET,
            GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let bytes = lenient.decode(format!("{key}=")).map_err(|_| InvalidKey)?;
        Ok(AesKey(bytes.try_into().map_err(|_| InvalidKey)?))
    }

    fn iv(&self) -> [u8; 16] {
        self.0[..16].try_into().expect("a 32-byte key has 16 bytes")
    }
}

/// Encrypts and decrypts one account's messages.
#[derive(Clone, Debug)]
pub struct MessageCrypto {
    current: AesKey,
    previous: Option<AesKey>,
    app_id: String,
}

/// An encrypted reply, ready to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub encrypt: String,
    pub msg_signature: String,
    pub timestamp: String,
    pub nonce: String,
}

impl Envelope {
    pub fn to_xml(&self) -> String {
        format!(
            "<xml><Encrypt><![CDATA[{}]]></Encrypt><MsgSignature><![CDATA[{}]]></MsgSignature>\
             <TimeStamp>{}</TimeStamp><Nonce><![CDATA[{}]]></Nonce></xml>",
            self.encrypt, self.msg_signature, self.timestamp, self.nonce
        )
    }
}

impl MessageCrypto {
    pub fn new(current: AesKey, previous: Option<AesKey>, app_id: impl Into<String>) -> Self {
        MessageCrypto {
            current,
            previous,
            app_id: app_id.into(),
        }
    }

    /// Decrypts an `Encrypt` value, trying the previous key when the current one fails.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        let first = decrypt_with(&self.current, encrypt, &self.app_id);
        match (&first, &self.previous) {
            (
                Err(CryptoError::Padding | CryptoError::Malformed | CryptoError::WrongAppId),
                Some(previous),
            ) => decrypt_with(previous, encrypt, &self.app_id).or(first),
            _ => first,
        }
    }

    /// Encrypts with the current key and fresh random bytes.
    pub fn encrypt(&self, xml: &str) -> String {
        let mut random = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut random);
        encrypt_with(&self.current, &random, xml, &self.app_id)
    }

    /// Wraps a passive reply in the signed envelope WeChat expects in AES mode.
    pub fn seal(&self, xml: &str, token: &str, timestamp: &str, nonce: &str) -> Envelope {
        let encrypt = self.encrypt(xml);
        let msg_signature = signature::sign(&[token, timestamp, nonce, &encrypt]);
        Envelope {
            encrypt,
            msg_signature,
            timestamp: timestamp.into(),
            nonce: nonce.into(),
        }
    }
}

fn decrypt_with(key: &AesKey, encrypt: &str, app_id: &str) -> Result<String, CryptoError> {
    if encrypt.len() > MAX_CIPHERTEXT * 4 / 3 + 4 {
        return Err(CryptoError::BlockLength);
    }
    let mut buf = STANDARD
        .decode(encrypt.trim())
        .map_err(|_| CryptoError::Base64)?;
    if buf.is_empty() || buf.len() % 16 != 0 {
        return Err(CryptoError::BlockLength);
    }
    let plain = cbc::Decryptor::<Aes256>::new(&key.0.into(), &key.iv().into())
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .map_err(|_| CryptoError::BlockLength)?;
    let pad = *plain.last().ok_or(CryptoError::Padding)? as usize;
    if pad == 0
        || pad > PAD_BLOCK
        || pad > plain.len()
        || !plain[plain.len() - pad..]
            .iter()
            .all(|b| *b as usize == pad)
    {
        return Err(CryptoError::Padding);
    }
    let content = &plain[..plain.len() - pad];
    if content.len() < 20 {
        return Err(CryptoError::Malformed);
    }
    let len = u32::from_be_bytes(content[16..20].try_into().expect("4 bytes")) as usize;
    let rest = &content[20..];
    if len > rest.len() {
        return Err(CryptoError::Malformed);
    }
    let (xml, found_app_id) = rest.split_at(len);
    if found_app_id != app_id.as_bytes() {
        return Err(CryptoError::WrongAppId);
    }
    String::from_utf8(xml.to_vec()).map_err(|_| CryptoError::Malformed)
}

fn encrypt_with(key: &AesKey, random: &[u8; 16], xml: &str, app_id: &str) -> String {
    let mut plain = Vec::with_capacity(20 + xml.len() + app_id.len() + PAD_BLOCK);
    plain.extend_from_slice(random);
    plain.extend_from_slice(&(xml.len() as u32).to_be_bytes());
    plain.extend_from_slice(xml.as_bytes());
    plain.extend_from_slice(app_id.as_bytes());
    let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let len = plain.len();
    let cipher = cbc::Encryptor::<Aes256>::new(&key.0.into(), &key.iv().into())
        .encrypt_padded_mut::<NoPadding>(&mut plain, len)
        .expect("the plaintext is padded to whole blocks");
    STANDARD.encode(cipher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Vector A — WeChat's official message-crypto sample (Java WXBizMsgCryptTest,
    // testAesEncrypt / testAesEncrypt2), as also checked by WxJava's WxCryptUtilTest:
    // key "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", appid "wxb11529c136998cb6",
    // random "aaaabbbbccccdddd".
    const A_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const A_APPID: &str = "wxb11529c136998cb6";
    const A_RANDOM: &[u8; 16] = b"aaaabbbbccccdddd";
    const A_TEXT: &str = "我是中文abcd123";
    const A_CIPHER: &str =
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";
    const A_TEXT2: &str = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>";
    const A_CIPHER2: &str = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb";

    // Vector B — wechatpy's tests/test_crypto.py (same scheme, WeChat Work ids):
    // token "123456", key "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    // appid "wx49f0ab532d5d035a", random "1234567890123456".
    const B_TOKEN: &str = "123456";
    const B_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
    const B_APPID: &str = "wx49f0ab532d5d035a";

    fn key(k: &str) -> AesKey {
        AesKey::from_encoding_aes_key(k).unwrap()
    }

    #[test]
    fn official_sample_encrypts_byte_for_byte() {
        assert_eq!(
            encrypt_with(&key(A_KEY), A_RANDOM, A_TEXT, A_APPID),
            A_CIPHER
        );
        assert_eq!(
            encrypt_with(&key(A_KEY), A_RANDOM, A_TEXT2, A_APPID),
            A_CIPHER2
        );
    }

    #[test]
    fn official_sample_decrypts() {
        let crypto = MessageCrypto::new(key(A_KEY), None, A_APPID);
        assert_eq!(crypto.decrypt(A_CIPHER).unwrap(), A_TEXT);
        assert_eq!(crypto.decrypt(A_CIPHER2).unwrap(), A_TEXT2);
    }

    #[test]
    fn wechatpy_reply_vector_encrypts_and_signs_identically() {
        let reply = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
        let encrypt = encrypt_with(&key(B_KEY), b"1234567890123456", reply, B_APPID);
        assert_eq!(
            encrypt,
            "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
        );
        assert_eq!(
            signature::sign(&[B_TOKEN, "1411525903", "461056294", &encrypt]),
            "407518b7649e86ef23978113f92d27afa9296533"
        );
    }

    #[test]
    fn wechatpy_push_vector_verifies_and_decrypts() {
        let encrypt = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";
        assert!(signature::verify(
            "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
            &[B_TOKEN, "1411525903", "461056294", encrypt]
        ));
        let xml = MessageCrypto::new(key(B_KEY), None, B_APPID)
            .decrypt(encrypt)
            .unwrap();
        assert!(xml.contains("<Content><![CDATA[test]]></Content>"), "{xml}");
        assert!(
            xml.contains("<FromUserName><![CDATA[messense]]></FromUserName>"),
            "{xml}"
        );
    }

    #[test]
    fn another_accounts_message_is_refused() {
        let crypto = MessageCrypto::new(key(A_KEY), None, "wx_someone_else");
        assert_eq!(crypto.decrypt(A_CIPHER), Err(CryptoError::WrongAppId));
    }

    #[test]
    fn the_previous_key_still_opens_messages_after_a_rotation() {
        let rotated = MessageCrypto::new(key(B_KEY), Some(key(A_KEY)), A_APPID);
        assert_eq!(rotated.decrypt(A_CIPHER).unwrap(), A_TEXT);
        // Replies use the new key only.
        let sealed = rotated.encrypt("<xml/>");
        assert!(
            MessageCrypto::new(key(A_KEY), None, A_APPID)
                .decrypt(&sealed)
                .is_err()
        );
        assert_eq!(
            MessageCrypto::new(key(B_KEY), None, A_APPID)
                .decrypt(&sealed)
                .unwrap(),
            "<xml/>"
        );
    }

    #[test]
    fn broken_ciphertexts_say_what_is_wrong() {
        let crypto = MessageCrypto::new(key(A_KEY), None, A_APPID);
        assert_eq!(crypto.decrypt("not base64!!"), Err(CryptoError::Base64));
        assert_eq!(
            crypto.decrypt(&STANDARD.encode([1u8; 15])),
            Err(CryptoError::BlockLength)
        );
        assert_eq!(crypto.decrypt(""), Err(CryptoError::BlockLength));
        // The right length but random bytes: the padding will not hold.
        let garbage = crypto.decrypt(&STANDARD.encode([7u8; 64])).unwrap_err();
        assert!(matches!(
            garbage,
            CryptoError::Padding | CryptoError::Malformed | CryptoError::WrongAppId
        ));
    }

    #[test]
    fn keys_must_be_43_base64_characters() {
        assert!(AesKey::from_encoding_aes_key(A_KEY).is_ok());
        assert_eq!(
            AesKey::from_encoding_aes_key("short").unwrap_err(),
            InvalidKey
        );
        assert_eq!(
            AesKey::from_encoding_aes_key(&"*".repeat(43)).unwrap_err(),
            InvalidKey
        );
    }

    proptest! {
        #[test]
        fn encryption_round_trips(xml in ".{0,2000}", app_id in "[a-z0-9]{1,32}", random in any::<[u8; 16]>()) {
            let k = key(A_KEY);
            let sealed = encrypt_with(&k, &random, &xml, &app_id);
            let crypto = MessageCrypto::new(k, None, app_id);
            prop_assert_eq!(crypto.decrypt(&sealed).unwrap(), xml);
        }

        #[test]
        fn decryption_never_panics(input in ".{0,400}", bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let crypto = MessageCrypto::new(key(A_KEY), Some(key(B_KEY)), A_APPID);
            let _ = crypto.decrypt(&input);
            let _ = crypto.decrypt(&STANDARD.encode(&bytes));
        }
    }
}
