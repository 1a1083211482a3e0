//! The secure-mode checks (docs/protocol.md 10): access with an unknown key, a tampered and a
//! replayed protected frame, normal access where secure mode is required.

use super::client::*;
use super::*;

/// Runs the secure-mode checks; their outcomes go to `out`.
pub(super) async fn run(target: &Target, out: &mut Vec<Outcome>) {
    let id = |n: u32| target.first_id + n;
    check!(
        out,
        "10.1",
        "secure access with an unknown key is refused AuthenticationFailed",
        async {
            let session = secure_session(target, id(7), SecureProfile::Guide, false).await?;
            let mut c = Client::connect(target, session).await?;
            c.pump(Duration::from_secs(5), |ev| {
                ev.iter().any(|e| matches!(e, AgvEvent::Closed(_)))
            })
            .await;
            if c.events.contains(&AgvEvent::Closed(CloseCause::Refused(
                ResultCode::AuthenticationFailed,
            ))) {
                Ok(())
            } else {
                Err(format!("{:?}", c.events))
            }
        }
    );

    for (n, profile, name) in [
        (
            8,
            SecureProfile::Guide,
            "secure access with an enrolled key, guide profile",
        ),
        (
            9,
            SecureProfile::Fast,
            "secure access with an enrolled key, fast profile",
        ),
        (
            24,
            SecureProfile::Gcm,
            "secure access with an enrolled key, gcm profile (or guide, by policy)",
        ),
    ] {
        check!(out, "10.1–10.2", name, async {
            let session = secure_session(target, id(n), profile, true).await?;
            let mut c = Client::connect(target, session).await?;
            c.establish().await?;
            // the profile asked for, or the guide profile where the RCS's policy says so
            let granted = c.events.iter().find_map(|e| match e {
                AgvEvent::Connected { profile, .. } => Some(*profile),
                _ => None,
            });
            if granted != Some(profile) && granted != Some(SecureProfile::Guide) {
                return Err(format!("asked for {profile:?}, granted {granted:?}"));
            }
            // a report that asks for an answer: the RCS's Ack must open under the profile too
            let seq = c
                .session
                .send(now_ms(), status(2.0, 2.0), true)
                .map_err(|e| e.to_string())?;
            let acked = move |ev: &[AgvEvent]| {
                ev.iter().any(|e| {
                    matches!(e, AgvEvent::Response { request_seq, message: Message::Ack(_) }
                        if *request_seq == seq)
                })
            };
            c.pump(Duration::from_secs(2), acked).await;
            if !acked(&c.events) {
                return Err(format!("the report was not acknowledged: {:?}", c.events));
            }
            if c.events
                .iter()
                .any(|e| matches!(e, AgvEvent::PeerError { .. }))
            {
                return Err(format!("{:?}", c.events));
            }
            Ok(())
        });
    }

    check!(
        out,
        "10.3",
        "a tampered protected frame is refused BadSignature",
        async {
            let session = secure_session(target, id(10), SecureProfile::Guide, true).await?;
            let mut c = Client::connect(target, session).await?;
            c.establish().await?;
            c.session
                .send(now_ms(), status(3.0, 3.0), false)
                .map_err(|e| e.to_string())?;
            let frame = c.session.poll_transmit().ok_or("nothing to send")?;
            let mut bad = frame.to_vec();
            bad[40] ^= 0x01; // a ciphertext byte: the tag no longer matches
            // keep the CRCs valid so only the signature check can catch it
            let body_end = bad.len() - 4;
            let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&bad[32..body_end]);
            bad[body_end..].copy_from_slice(&crc.to_le_bytes());
            c.stream.write_all(&bad).await.map_err(|e| e.to_string())?;
            c.pump(Duration::from_secs(2), |ev| {
                ev.iter().any(|e| matches!(e, AgvEvent::PeerError { .. }))
            })
            .await;
            if c.peer_error(ErrorCode::BadSignature) {
                Ok(())
            } else {
                Err(format!("{:?}", c.events))
            }
        }
    );

    check!(
        out,
        "10.3",
        "a replayed protected frame is refused Replay",
        async {
            let session = secure_session(target, id(11), SecureProfile::Fast, true).await?;
            let mut c = Client::connect(target, session).await?;
            c.establish().await?;
            c.session
                .send(now_ms(), status(4.0, 4.0), false)
                .map_err(|e| e.to_string())?;
            c.pump(Duration::from_millis(300), |_| false).await;
            let last = c.sent.last().cloned().ok_or("nothing sent")?;
            c.stream.write_all(&last).await.map_err(|e| e.to_string())?;
            c.pump(Duration::from_secs(2), |ev| {
                ev.iter().any(|e| matches!(e, AgvEvent::PeerError { .. }))
            })
            .await;
            if c.peer_error(ErrorCode::Replay) {
                Ok(())
            } else {
                Err(format!("{:?}", c.events))
            }
        }
    );

    check!(
        out,
        "10.4",
        "normal access is refused where secure mode is required",
        async {
            let api = target.api.as_ref().ok_or("needs --api")?;
            api.set_policy(id(12), Some("required"))
                .await
                .map_err(|e| e.to_string())?;
            let mut c = Client::connect(target, normal(id(12))).await?;
            c.pump(Duration::from_secs(5), |ev| {
                ev.iter().any(|e| matches!(e, AgvEvent::Closed(_)))
            })
            .await;
            let _ = api.set_policy(id(12), None).await;
            if c.events.contains(&AgvEvent::Closed(CloseCause::Refused(
                ResultCode::SecureModeRequired,
            ))) {
                Ok(())
            } else {
                Err(format!("{:?}", c.events))
            }
        }
    );
}
