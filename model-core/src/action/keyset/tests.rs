//! Page cursors are text from outside: bounded, typed refusals, never a
//! panic or a crash, whatever the text.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::cursor::*;
use crate::schema::FieldDecl;

const KEYS: [(&str, i32); 2] = [("score", -1), ("_id", 1)];
const BINDING: Binding<'static> = Binding { collection: "entries", keys: &KEYS };

fn key(byte: u8) -> CursorKey {
    CursorKey::new([byte; 32])
}

/// The schema of the fields of [`KEYS`].
const FIELDS: &[FieldDecl] = &[FieldDecl::of::<Option<i32>>("score"), FieldDecl::of::<i64>("_id")];

/// `text` read as a cursor and opened: `Ok` or [`Error::InvalidArgument`],
/// nothing else.
fn read(text: &str, key: Option<&CursorKey>) -> Result<(bool, Vec<Bson>)> {
    refused_quietly(text, text.parse::<PageCursor>().and_then(|c| c.open(key, BINDING)))
}

/// `text` read as a page does: parsed, opened, its values checked
/// against the fields' types, and the filter past them built.
fn read_as_a_page(text: &str, key: Option<&CursorKey>) -> Result<(bool, Vec<Bson>)> {
    let opened = text.parse::<PageCursor>().and_then(|c| resume(&c, key, BINDING, FIELDS));
    if let Ok((_, values)) = &opened {
        let filter = past(&KEYS, values);
        assert!(!filter.is_empty());
    }
    refused_quietly(text, opened)
}

/// `result`, after checking that a refusal is typed and does not quote
/// `text`.
fn refused_quietly<T>(text: &str, result: Result<T>) -> Result<T> {
    if let Err(error) = &result {
        assert!(matches!(error, Error::InvalidArgument { .. }), "{error:?}");
        // A refusal never quotes the text.
        let message = error.to_string();
        assert!(message.len() < 200, "{message}");
        if text.len() > 16 {
            assert!(!message.contains(text), "{message}");
        }
    }
    result
}

/// A plain cursor's text for `payload`, written by hand as a client could.
fn plain(payload: &Document) -> String {
    let mut bytes = vec![PLAIN];
    bytes.extend(bson::to_vec(payload).unwrap());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A document nested `depth` levels (`{"": {"": ...}}`), written byte by
/// byte: no BSON library call recurses to make it.
fn nested(depth: usize) -> Vec<u8> {
    nested_as(&vec![true; depth])
}

/// A document nested one level per entry of `documents`: an embedded
/// document (`true`) or an array (`false`) under the key `""`.
fn nested_as(documents: &[bool]) -> Vec<u8> {
    let mut doc = vec![5, 0, 0, 0, 0];
    for &document in documents {
        let len = (doc.len() + 7) as i32;
        let mut outer = len.to_le_bytes().to_vec();
        outer.extend([if document { 0x03 } else { 0x04 }, 0]);
        outer.extend(doc);
        outer.push(0);
        doc = outer;
    }
    doc
}

#[test]
fn cursors_round_trip_plain_and_sealed() {
    let values = vec![Bson::Null, Bson::Int64(5)];
    let plain = PageCursor::make(None, BINDING, false, values.clone()).unwrap();
    assert!(plain.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(read(plain.as_str(), None).unwrap(), (false, values.clone()));

    let sealed = PageCursor::make(Some(&key(1)), BINDING, true, values.clone()).unwrap();
    assert_eq!(read(sealed.as_str(), Some(&key(1))).unwrap(), (true, values.clone()));
    // A fresh nonce each time: equal cursors do not look equal.
    let again = PageCursor::make(Some(&key(1)), BINDING, true, values).unwrap();
    assert_ne!(sealed, again);

    assert!("not a cursor!".parse::<PageCursor>().is_err());
    assert!(URL_SAFE_NO_PAD.encode(b"xx").parse::<PageCursor>().is_err());
    assert!("".parse::<PageCursor>().is_err());
}

#[test]
fn a_deeply_nested_cursor_is_refused_on_a_worker_sized_stack() {
    // A tokio worker's stack: 2 MiB. Parsed recursively, a few hundred
    // levels overflow it in a debug build and a few thousand in a release
    // build, which aborts the whole process.
    let worker = std::thread::Builder::new().stack_size(2 << 20);
    let outcome = worker
        .spawn(|| {
            let mut refused = Vec::new();
            // Under the length bound: refused by the depth check.
            for depth in [MAX_DEPTH + 1, 200, 400] {
                let mut bytes = vec![PLAIN];
                bytes.extend(nested(depth));
                let text = URL_SAFE_NO_PAD.encode(bytes);
                assert!(text.len() <= MAX_CURSOR_LEN, "{depth} levels: {} chars", text.len());
                refused.push(read(&text, None).unwrap_err().to_string());
            }
            // Over it (what overflows a release build): refused unread.
            let mut bytes = vec![PLAIN];
            bytes.extend(nested(5_000));
            let text = URL_SAFE_NO_PAD.encode(bytes);
            assert!(text.len() > MAX_CURSOR_LEN);
            refused.push(read(&text, None).unwrap_err().to_string());
            refused
        })
        .unwrap()
        .join()
        .expect("the parse must not panic");
    assert!(outcome[..3].iter().all(|m| m.contains("nested deeper")), "{outcome:?}");
    assert!(outcome[3].contains("longer than"), "{}", outcome[3]);
    // The depth allowed still reads: a composite key nests a few levels.
    let value = Bson::Document(doc! { "a": { "b": { "c": 1 } } });
    let cursor = PageCursor::make(None, BINDING, true, vec![value.clone(), 1.into()]).unwrap();
    assert_eq!(read(cursor.as_str(), None).unwrap().1[0], value);
}

#[test]
fn values_of_types_no_sort_value_has_are_refused() {
    let refused = [
        Bson::MinKey,
        Bson::MaxKey,
        Bson::Undefined,
        Bson::JavaScriptCode("x".into()),
        Bson::Symbol("x".into()),
        Bson::RegularExpression(bson::Regex { pattern: ".".into(), options: String::new() }),
        // Anywhere inside a value too.
        Bson::Document(doc! { "inner": Bson::MaxKey }),
    ];
    for value in refused {
        let text = plain(&doc! {
            "c": "entries", "s": { "score": -1, "_id": 1 }, "d": 1, "v": [value.clone(), 1],
        });
        let error = read(&text, None).unwrap_err();
        assert!(error.to_string().contains("type no sort has"), "{value:?}: {error}");
    }
}

#[test]
fn a_cursor_is_bound_to_its_collection_and_its_ordered_sort() {
    let values = vec![Bson::Int32(3), Bson::Int64(1)];
    let swapped = [("_id", 1), ("score", -1)];
    let reversed = [("score", 1), ("_id", 1)];
    for key in [None, Some(key(1))] {
        let cursor = PageCursor::make(key.as_ref(), BINDING, true, values.clone()).unwrap();
        assert!(cursor.open(key.as_ref(), BINDING).is_ok());
        for keys in [&swapped[..], &reversed[..], &KEYS[..1]] {
            let other = Binding { keys, ..BINDING };
            assert!(cursor.open(key.as_ref(), other).is_err(), "{key:?} {keys:?}");
        }
        let other = Binding { collection: "others", ..BINDING };
        assert!(cursor.open(key.as_ref(), other).is_err());
    }
    // By hand: the same keys in another order (equal as `Document`s).
    let text = plain(&doc! { "c": "entries", "s": { "_id": 1, "score": -1 }, "d": 1, "v": [3, 1] });
    assert!(read(&text, None).is_err());
    let text = plain(&doc! { "c": "entries", "s": { "score": -1, "_id": 1 }, "d": 1, "v": [3, 1] });
    assert!(read(&text, None).is_ok());
}

#[test]
fn sealed_cursors_hide_their_values_and_need_their_key() {
    let secret = "salary-4242-secret";
    let values = vec![Bson::String(secret.into()), Bson::Int64(1)];
    let sealed = PageCursor::make(Some(&key(1)), BINDING, true, values.clone()).unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(sealed.as_str()).unwrap();
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    let plain = PageCursor::make(None, BINDING, true, values).unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(plain.as_str()).unwrap();
    assert!(bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));

    assert!(read(sealed.as_str(), Some(&key(2))).is_err(), "another key");
    assert!(read(sealed.as_str(), None).is_err(), "no key");
    assert!(read(plain.as_str(), Some(&key(1))).is_err(), "a plain cursor where a key is set");
    assert_eq!(format!("{:?}", key(9)), "CursorKey(..)");
    assert!(CursorKey::from_slice(&[1; 31]).is_err());
}

#[test]
fn values_of_another_type_than_their_field_are_refused() {
    let cursor = |score: Bson| {
        let text = plain(&doc! {
            "c": "entries", "s": { "score": -1, "_id": 1 }, "d": 1, "v": [score, 7_i64],
        });
        read_as_a_page(&text, None)
    };
    // Any number for a number field; `null` anywhere.
    for fits in [Bson::Int32(3), Bson::Int64(3), Bson::Double(f64::NAN), Bson::Null] {
        assert!(cursor(fits.clone()).is_ok(), "{fits:?}");
    }
    for other in [Bson::String("3".into()), Bson::Boolean(true), Bson::Document(doc! {})] {
        let error = cursor(other.clone()).unwrap_err().to_string();
        assert!(error.contains("`score`"), "{other:?}: {error}");
    }
}

#[test]
fn a_cursor_too_long_to_read_back_is_not_made() {
    let long = Bson::String("x".repeat(MAX_CURSOR_LEN));
    let made = PageCursor::make(None, BINDING, true, vec![long, 1.into()]);
    assert!(matches!(made, Err(Error::InvalidArgument { .. })));
}

// ---------------------------------------------------------------- fuzzing

/// A fixed seed and a bounded number of cases: the same inputs on every
/// run, in well under a second each.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(0x6b65_7973_6574),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Runs `test` on a worker-sized stack, as a page is read on a tokio
/// worker.
fn on_worker_stack(test: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(2 << 20).spawn(test).unwrap().join().unwrap();
}

/// Sort values of every BSON kind, the refused ones included, nested up
/// to a depth past [`MAX_DEPTH`].
fn value() -> impl Strategy<Value = Bson> {
    let leaf = prop_oneof![
        Just(Bson::Null),
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        any::<f64>().prop_map(Bson::Double),
        Just(Bson::Double(f64::NAN)),
        ".{0,12}".prop_map(Bson::String),
        any::<bool>().prop_map(Bson::Boolean),
        any::<i64>().prop_map(|ms| Bson::DateTime(bson::DateTime::from_millis(ms))),
        any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(bson::oid::ObjectId::from_bytes(b))),
        any::<[u8; 16]>().prop_map(|b| Bson::Decimal128(bson::Decimal128::from_bytes(b))),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
        Just(Bson::Undefined),
        Just(Bson::JavaScriptCode("1".into())),
    ];
    leaf.prop_recursive(12, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
            prop::collection::vec(("[a-z_]{0,3}", inner), 0..4)
                .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Truncate(usize),
    Splice { at: usize, cut: usize, with: Vec<u8> },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0..8u8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0..8usize, prop::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(at, cut, with)| Mutation::Splice { at, cut, with }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let len = bytes.len();
    match mutation {
        Mutation::Flip { at, bit } => bytes[at % len] ^= 1 << bit,
        Mutation::Truncate(to) => bytes.truncate(to % len),
        Mutation::Splice { at, cut, with } => {
            let at = at % len;
            let end = (at + cut).min(len);
            bytes.splice(at..end, with.iter().copied());
        }
    }
}

#[test]
fn fuzz_arbitrary_text_is_refused_or_read_never_a_panic() {
    on_worker_stack(|| {
        let text = prop_oneof![any::<String>(), "[A-Za-z0-9_-]{0,64}", "A[QI][A-Za-z0-9_-]{0,300}"];
        runner(3_000)
            .run(&(text, any::<bool>()), |(text, keyed)| {
                let _ = read_as_a_page(&text, keyed.then(|| key(1)).as_ref());
                Ok(())
            })
            .unwrap();
    });
}

#[test]
fn fuzz_arbitrary_bytes_and_payloads_are_refused_or_read_never_a_panic() {
    on_worker_stack(|| {
        let version = prop_oneof![Just(PLAIN), Just(SEALED), any::<u8>()];
        let bytes = (version, prop::collection::vec(any::<u8>(), 0..400));
        runner(3_000)
            .run(&bytes, |(version, bytes)| {
                let mut all = vec![version];
                all.extend(bytes);
                let text = URL_SAFE_NO_PAD.encode(&all);
                let _ = read_as_a_page(&text, None);
                let _ = read_as_a_page(&text, Some(&key(1)));
                Ok(())
            })
            .unwrap();
        // Nested to any depth the length bound lets through (what
        // overflowed the stack before depth was checked).
        let deep = prop::collection::vec(any::<bool>(), 0..440);
        runner(300)
            .run(&deep, |levels| {
                let mut bytes = vec![PLAIN];
                bytes.extend(nested_as(&levels));
                let read = read_as_a_page(&URL_SAFE_NO_PAD.encode(bytes), None);
                prop_assert!(read.is_err() || levels.len() < MAX_DEPTH);
                Ok(())
            })
            .unwrap();
        // Well-formed BSON of any shape: deep, of refused types, with
        // fields missing or of the wrong type.
        let payload = (
            prop::collection::vec(value(), 0..4),
            prop_oneof![Just(Bson::Int32(1)), Just(Bson::Int32(-1)), value()],
            prop_oneof![Just(Bson::Document(BINDING.sort())), value()],
        );
        runner(2_000)
            .run(&payload, |(values, direction, sort)| {
                let text = plain(&doc! { "c": "entries", "s": sort, "d": direction, "v": values });
                if let Ok((_, values)) = read_as_a_page(&text, None) {
                    prop_assert_eq!(values.len(), KEYS.len());
                }
                Ok(())
            })
            .unwrap();
    });
}

#[test]
fn fuzz_mutated_cursors_are_refused_or_read_never_a_panic() {
    on_worker_stack(|| {
        let case = (prop::collection::vec(value(), 2..=2), any::<bool>(), mutation());
        runner(3_000)
            .run(&case, |(values, sealed, mutation)| {
                let key = sealed.then(|| key(1));
                // Values no cursor holds are refused when read back, so
                // start from what a page could have made.
                let Ok(cursor) = PageCursor::make(key.as_ref(), BINDING, true, values) else {
                    return Ok(());
                };
                let original = URL_SAFE_NO_PAD.decode(cursor.as_str()).unwrap();
                let mut bytes = original.clone();
                mutate(&mut bytes, &mutation);
                let opened = read_as_a_page(&URL_SAFE_NO_PAD.encode(&bytes), key.as_ref());
                if sealed && bytes != original {
                    prop_assert!(opened.is_err(), "a changed sealed cursor was accepted");
                }
                // The text itself cut or spliced.
                let mut text = cursor.as_str().as_bytes().to_vec();
                mutate(&mut text, &mutation);
                let _ = read_as_a_page(&String::from_utf8_lossy(&text), key.as_ref());
                Ok(())
            })
            .unwrap();
    });
}
