//! The few DER structures keys need: SPKI fields, PKCS#1 wrapping, ECDSA-Sig-Value.

pub const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;

/// One TLV with a definite, minimally encoded length: (tag, contents, rest).
pub fn read_tlv(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, data) = data.split_first()?;
    let (&first, data) = data.split_first()?;
    let (len, data) = if first < 0x80 {
        (first as usize, data)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || data.len() < n || data[0] == 0 {
            return None;
        }
        let len = data[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        if len < 0x80 {
            return None;
        }
        (len, &data[n..])
    };
    (data.len() >= len).then(|| (tag, &data[..len], &data[len..]))
}

fn is_der_integer(contents: &[u8]) -> bool {
    match contents {
        [] => false,
        [0x00, next, ..] => next & 0x80 != 0,
        [0xff, next, ..] => next & 0x80 == 0,
        _ => true,
    }
}

/// Length of a DER `SEQUENCE { INTEGER r, INTEGER s }` at the start of `sig`, or `None` if it does not
/// start with one (then the bytes may be IEEE-P1363).
pub fn ecdsa_sig_prefix(sig: &[u8]) -> Option<usize> {
    let (tag, contents, rest) = read_tlv(sig)?;
    let (r_tag, r, after_r) = read_tlv(contents)?;
    let (s_tag, s, after_s) = read_tlv(after_r)?;
    let ok = tag == SEQUENCE && r_tag == INTEGER && s_tag == INTEGER && after_s.is_empty();
    (ok && is_der_integer(r) && is_der_integer(s)).then_some(sig.len() - rest.len())
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(contents);
}

fn push_unsigned_integer(out: &mut Vec<u8>, big_endian: &[u8]) {
    let trimmed: &[u8] = match big_endian.iter().position(|b| *b != 0) {
        Some(i) => &big_endian[i..],
        None => &[0],
    };
    let mut contents = Vec::with_capacity(trimmed.len() + 1);
    if trimmed[0] & 0x80 != 0 {
        contents.push(0);
    }
    contents.extend_from_slice(trimmed);
    push_tlv(out, INTEGER, &contents);
}

/// DER ECDSA-Sig-Value from IEEE-P1363 halves.
pub fn ecdsa_sig_from_p1363(r: &[u8], s: &[u8]) -> Vec<u8> {
    let mut contents = Vec::new();
    push_unsigned_integer(&mut contents, r);
    push_unsigned_integer(&mut contents, s);
    let mut out = Vec::new();
    push_tlv(&mut out, SEQUENCE, &contents);
    out
}

/// SubjectPublicKeyInfo for a PKCS#1 RSAPublicKey (`rsaEncryption`, NULL parameters).
pub fn rsa_spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    let mut algorithm = Vec::new();
    push_tlv(&mut algorithm, OID, super::OID_RSA_ENCRYPTION);
    algorithm.extend_from_slice(&[0x05, 0x00]);
    let mut bits = vec![0u8];
    bits.extend_from_slice(pkcs1);
    let mut contents = Vec::new();
    push_tlv(&mut contents, SEQUENCE, &algorithm);
    push_tlv(&mut contents, BIT_STRING, &bits);
    let mut out = Vec::new();
    push_tlv(&mut out, SEQUENCE, &contents);
    out
}

fn spki_bits(spki: &[u8]) -> Option<&[u8]> {
    let (SEQUENCE, contents, []) = read_tlv(spki)? else { return None };
    let (SEQUENCE, _algorithm, rest) = read_tlv(contents)? else { return None };
    let (BIT_STRING, bits, []) = read_tlv(rest)? else { return None };
    Some(bits)
}

/// The subjectPublicKey bits of an SPKI (no unused bits allowed).
pub fn spki_key_bits(spki: &[u8]) -> Option<&[u8]> {
    match spki_bits(spki)? {
        [0, key @ ..] => Some(key),
        _ => None,
    }
}
