//! Request routing: the one table of the APIs this broker serves. Each API is declared once, in
//! `ROUTES`, with its key, the version range served and its handler; everything else derives
//! from that declaration: what ApiVersions advertises (answered here, from the table), the
//! connection's version gate (`net/connection.rs`, through `route`), the README's API table test, and
//! dispatch itself. An entry *is* its handler (a `fn` that takes the decoded [`RequestKind`] of its
//! own key and calls the handler), so an advertised API without a handler cannot compile, and a
//! key declared twice fails the build (the index below is built at compile time and refuses it,
//! like tansu's route builder refuses a duplicate route).
//!
//! Every handler has one signature, `async fn(&RequestContext<'_>, XRequest) -> answer`, where
//! the answer is the API's response, `Option<ProduceResponse>` for Produce (acks=0 answers
//! nothing) or a `Reply` with file parts for Fetch.
//!
//! The table is a `const` built at compile time; looking a key up is one index into a fixed
//! array (`route`).

use std::future::Future;
use std::pin::Pin;

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestKind};

use crate::handlers::{self, RequestContext};
use crate::zero_copy::Reply;

/// What a route's handler returns: the reply to send, `None` for no reply (Produce with acks=0).
pub(crate) type Answer<'a> = Pin<Box<dyn Future<Output = Option<Reply>> + Send + 'a>>;

/// One served API: its key, the version range advertised and accepted, and its handler.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    /// The API.
    pub(crate) key: ApiKey,
    /// The lowest version advertised.
    pub(crate) min: i16,
    /// The highest version advertised.
    pub(crate) max: i16,
    /// Calls the handler with the request (which must be of this route's key).
    call: for<'a> fn(&'a RequestContext<'a>, RequestKind) -> Answer<'a>,
    /// A default request of this route's key, for the test that dispatches every route.
    #[cfg(test)]
    sample: fn() -> RequestKind,
}

impl Route {
    /// Whether a request of this version is served: inside the advertised range and decodable
    /// by the codec (Produce v0-2 are advertised, as Kafka 4.0 does, but refused).
    pub(crate) fn serves(&self, version: i16) -> bool {
        (self.min..=self.max).contains(&version) && version >= self.key.valid_versions().min
    }

    /// Run the handler on a request decoded for this route's key.
    pub(crate) fn handle<'a>(
        &self,
        ctx: &'a RequestContext<'a>,
        request: RequestKind,
    ) -> Answer<'a> {
        (self.call)(ctx, request)
    }
}

/// A request handed to a route of another key. Cannot happen: the connection decodes the body
/// with the key it looked the route up by. Logged and answered with nothing.
fn misrouted(key: ApiKey, request: &RequestKind) -> Option<Reply> {
    tracing::warn!(route = ?key, api = ?request, "request dispatched to another API's route");
    None
}

/// Declares one route: `route!(Kind, min..=max, handler)`, where `Kind` names both the
/// [`ApiKey`] and the [`RequestKind`] variant, and `handler` is an
/// `async fn(&RequestContext<'_>, KindRequest)` returning the response (or a [`Reply`]).
/// `route!(Kind, min..=max, handler => optional)` is for a handler that may answer nothing
/// (`Option<KindResponse>`: Produce with acks=0).
macro_rules! route {
    ($kind:ident, $min:literal..=$max:literal, $handler:path) => {
        route!(@ $kind, $min, $max, $handler, |answer| Some(Reply::from(answer)))
    };
    ($kind:ident, $min:literal..=$max:literal, $handler:path => optional) => {
        route!(@ $kind, $min, $max, $handler, |answer: Option<_>| answer.map(Reply::from))
    };
    (@ $kind:ident, $min:literal, $max:literal, $handler:path, $reply:expr) => {{
        fn call<'a>(ctx: &'a RequestContext<'a>, request: RequestKind) -> Answer<'a> {
            Box::pin(async move {
                match request {
                    RequestKind::$kind(req) => ($reply)($handler(ctx, req).await),
                    other => misrouted(ApiKey::$kind, &other),
                }
            })
        }
        Route {
            key: ApiKey::$kind,
            min: $min,
            max: $max,
            call,
            #[cfg(test)]
            sample: || RequestKind::$kind(Default::default()),
        }
    }};
}

/// Every served API, in the order ApiVersions lists them. Ranges are as wide as the
/// `kafka-protocol` codecs allow, matching Kafka 4.x. Produce starts at 0 and FindCoordinator is
/// listed because librdkafka < 2.x-era clients (Debian's kcat 1.7.1 with librdkafka 2.0.2) turn
/// compression off unless Produce/Fetch/FindCoordinator are advertised the way Kafka does
/// (Kafka 4.0 also advertises Produce v0-2, KAFKA-18659; such old requests are refused).
pub(crate) const ROUTES: &[Route] = &[
    route!(Produce, 0..=13, handlers::produce::handle => optional),
    route!(Fetch, 4..=18, handlers::fetch::handle),
    route!(ListOffsets, 1..=10, handlers::list_offsets::handle),
    route!(Metadata, 0..=13, handlers::metadata::handle),
    route!(OffsetCommit, 2..=9, handlers::offset_commit::handle),
    route!(OffsetFetch, 1..=9, handlers::offset_fetch::handle),
    route!(FindCoordinator, 0..=6, handlers::find_coordinator::handle),
    route!(JoinGroup, 0..=9, handlers::join_group::handle),
    route!(Heartbeat, 0..=4, handlers::heartbeat::handle),
    route!(LeaveGroup, 0..=5, handlers::leave_group::handle),
    route!(SyncGroup, 0..=5, handlers::sync_group::handle),
    route!(DescribeGroups, 0..=6, handlers::describe_groups::handle),
    route!(ListGroups, 0..=5, handlers::list_groups::handle),
    route!(ApiVersions, 0..=4, api_versions),
    route!(CreateTopics, 2..=7, handlers::create_topics::handle),
    route!(DeleteTopics, 1..=6, handlers::delete_topics::handle),
    route!(DeleteRecords, 0..=2, handlers::delete_records::handle),
    route!(DeleteGroups, 0..=2, handlers::delete_groups::handle),
    route!(InitProducerId, 0..=5, handlers::init_producer_id::handle),
    route!(
        OffsetForLeaderEpoch,
        2..=4,
        handlers::cluster::offset_for_leader_epoch
    ),
    route!(DescribeConfigs, 1..=4, handlers::configs::describe),
    route!(AlterConfigs, 0..=2, handlers::configs::alter),
    route!(CreatePartitions, 0..=3, handlers::create_partitions::handle),
    route!(
        IncrementalAlterConfigs,
        0..=1,
        handlers::configs::incremental_alter
    ),
    route!(OffsetDelete, 0..=0, handlers::offset_delete::handle),
    route!(DescribeCluster, 0..=2, handlers::cluster::describe_cluster),
    route!(DescribeQuorum, 0..=2, handlers::describe_quorum::handle),
    route!(
        ConsumerGroupHeartbeat,
        0..=1,
        handlers::consumer_group_heartbeat::handle
    ),
    route!(
        ConsumerGroupDescribe,
        0..=1,
        handlers::consumer_group_describe::handle
    ),
    route!(
        DescribeTopicPartitions,
        0..=0,
        handlers::cluster::describe_topic_partitions
    ),
    route!(
        AddPartitionsToTxn,
        0..=5,
        handlers::add_partitions_to_txn::handle
    ),
    route!(AddOffsetsToTxn, 0..=4, handlers::add_offsets_to_txn::handle),
    route!(EndTxn, 0..=5, handlers::end_txn::handle),
    route!(TxnOffsetCommit, 0..=5, handlers::txn_offset_commit::handle),
    // Broker to broker: a transaction coordinator's markers for the partitions led here.
    route!(WriteTxnMarkers, 1..=1, handlers::write_txn_markers::handle),
    route!(
        DescribeProducers,
        0..=0,
        handlers::describe_producers::handle
    ),
    route!(
        DescribeTransactions,
        0..=0,
        handlers::describe_transactions::handle
    ),
    route!(ListTransactions, 0..=2, handlers::list_transactions::handle),
    // Features minikafka does not have, answered as Kafka answers with them off (unserved.rs).
    route!(DescribeAcls, 1..=3, handlers::acls::describe_acls),
    route!(CreateAcls, 1..=3, handlers::acls::create_acls),
    route!(DeleteAcls, 1..=3, handlers::acls::delete_acls),
    route!(
        DescribeLogDirs,
        1..=4,
        handlers::log_dirs::describe_log_dirs
    ),
    route!(ElectLeaders, 0..=2, handlers::elect_leaders::handle),
    route!(
        ListPartitionReassignments,
        0..=0,
        handlers::reassignments::list
    ),
    route!(
        DescribeClientQuotas,
        0..=1,
        handlers::unserved::describe_client_quotas
    ),
    route!(
        AlterPartitionReassignments,
        0..=1,
        handlers::reassignments::alter
    ),
    route!(
        AlterReplicaLogDirs,
        1..=2,
        handlers::log_dirs::alter_replica_log_dirs
    ),
    route!(
        DescribeUserScramCredentials,
        0..=0,
        handlers::scram_credentials::describe
    ),
    route!(
        AlterUserScramCredentials,
        0..=0,
        handlers::scram_credentials::alter
    ),
    // The exchange itself is the connection's (net/connection.rs); these routes answer a SASL
    // request where none is under way.
    route!(
        SaslHandshake,
        1..=1,
        handlers::scram_credentials::sasl_handshake
    ),
    route!(
        SaslAuthenticate,
        0..=2,
        handlers::scram_credentials::sasl_authenticate
    ),
    route!(
        CreateDelegationToken,
        1..=3,
        handlers::unserved::create_delegation_token
    ),
    route!(
        RenewDelegationToken,
        1..=2,
        handlers::unserved::renew_delegation_token
    ),
    route!(
        ExpireDelegationToken,
        1..=2,
        handlers::unserved::expire_delegation_token
    ),
    route!(
        DescribeDelegationToken,
        1..=3,
        handlers::unserved::describe_delegation_token
    ),
];

/// Marks a key without a route in [`BY_KEY`].
const NO_ROUTE: u8 = u8::MAX;

/// One more than the highest routed API key.
const INDEX_LEN: usize = {
    let mut len = 0;
    let mut i = 0;
    while i < ROUTES.len() {
        let key = ROUTES[i].key as usize;
        if key >= len {
            len = key + 1;
        }
        i += 1;
    }
    len
};

/// The position in [`ROUTES`] of each API key's route, built at compile time. A key declared
/// twice, or a route with `min > max`, fails the build here.
static BY_KEY: [u8; INDEX_LEN] = {
    assert!(
        ROUTES.len() < NO_ROUTE as usize,
        "too many routes for a u8 index"
    );
    let mut index = [NO_ROUTE; INDEX_LEN];
    let mut i = 0;
    while i < ROUTES.len() {
        let key = ROUTES[i].key as usize;
        assert!(index[key] == NO_ROUTE, "an API key is routed twice");
        assert!(
            ROUTES[i].min <= ROUTES[i].max,
            "a route's min version exceeds its max"
        );
        // Fits: i < ROUTES.len() < NO_ROUTE, asserted above.
        index[key] = i as u8;
        i += 1;
    }
    index
};

/// The route of `key`, if it is served.
pub(crate) fn route(key: ApiKey) -> Option<&'static Route> {
    let i = *BY_KEY.get(key as usize)?;
    ROUTES.get(usize::from(i))
}

/// Every served API with its version range (`(key, min, max)`), derived from `ROUTES`, in
/// the order ApiVersions lists them.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &{
    let mut out = [(ApiKey::Produce, 0, 0); ROUTES.len()];
    let mut i = 0;
    while i < ROUTES.len() {
        out[i] = (ROUTES[i].key, ROUTES[i].min, ROUTES[i].max);
        i += 1;
    }
    out
};

/// The served version range of `key`, if served.
pub fn supported(key: ApiKey) -> Option<(i16, i16)> {
    route(key).map(|r| (r.min, r.max))
}

/// ApiVersions: every route's key and version range, in table order (the same answer for every
/// version served). Answered here, by the table itself, rather than by a handler below it.
async fn api_versions(_ctx: &RequestContext<'_>, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    advertised()
}

fn advertised() -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.api_keys = ROUTES
        .iter()
        .map(|route| {
            ApiVersion::default()
                .with_api_key(route.key as i16)
                .with_min_version(route.min)
                .with_max_version(route.max)
        })
        .collect();
    r
}

/// The ApiVersions answer to a version we do not know: v0 layout, UNSUPPORTED_VERSION, and our
/// API list so the client can pick a version.
pub(crate) fn api_versions_unsupported() -> ApiVersionsResponse {
    let mut r = advertised();
    r.error_code = kafka_protocol::error::ResponseError::UnsupportedVersion.code();
    r
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use tokio_util::sync::CancellationToken;

    use super::*;

    /// Every advertised API reaches its handler: a default request of each route's key, encoded
    /// and decoded at the lowest and the highest version served, is looked up by its key as the
    /// connection does and run against a real broker; a response of the same API comes back
    /// and encodes at that version. Produce is sent with acks=-1 (acks=0 answers nothing, which
    /// is checked too).
    #[tokio::test]
    async fn every_advertised_api_routes_to_its_handler() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::ConfigBuilder::default();
        config.set("listeners", "127.0.0.1:0").unwrap();
        config
            .set("log.dirs", dir.path().to_str().unwrap())
            .unwrap();
        let running = crate::broker::RunningBroker::start(config.build().unwrap())
            .await
            .unwrap();
        let shutdown = CancellationToken::new();
        let ctx_at = |version| RequestContext {
            broker: running.broker(),
            version,
            peer: "127.0.0.1:9".parse().unwrap(),
            listener: "PLAINTEXT",
            principal: crate::net::connection::ANONYMOUS,
            client_id: "routes-test",
            shutdown: &shutdown,
        };
        let mut answered = 0;
        for declared in ROUTES {
            let key = declared.key;
            let lowest = declared.min.max(key.valid_versions().min);
            for version in [lowest, declared.max] {
                let mut request = (declared.sample)();
                if let RequestKind::Produce(p) = &mut request {
                    p.acks = -1;
                }
                let mut wire = BytesMut::new();
                request.encode(&mut wire, version).unwrap();
                let decoded = RequestKind::decode(key, &mut wire.freeze(), version).unwrap();
                let found =
                    route(key).unwrap_or_else(|| panic!("{key:?} is advertised but has no route"));
                assert!(found.serves(version), "{key:?} v{version} is refused");
                let ctx = ctx_at(version);
                let reply = found
                    .handle(&ctx, decoded)
                    .await
                    .unwrap_or_else(|| panic!("{key:?} v{version} answered nothing"));
                let body = format!("{:?}", reply.body);
                assert!(
                    body.starts_with(&format!("{key:?}(")),
                    "{key:?} v{version} answered another API: {body}"
                );
                reply.body.encode(&mut BytesMut::new(), version).unwrap();
                answered += 1;
            }
        }
        assert_eq!(answered, 2 * SUPPORTED.len());

        let produce = route(ApiKey::Produce).unwrap();
        let ctx = ctx_at(9);
        let acks0 = RequestKind::Produce(Default::default());
        assert!(
            produce.handle(&ctx, acks0).await.is_none(),
            "acks=0 is answered"
        );
        running.shutdown().await.unwrap();
    }

    /// The lookup finds exactly the declared keys, each at its own route.
    #[test]
    fn lookup_finds_exactly_the_declared_routes() {
        for key in ApiKey::iter() {
            let declared = ROUTES.iter().find(|r| r.key == key);
            match (route(key), declared) {
                (Some(found), Some(declared)) => assert_eq!(
                    (found.key, found.min, found.max),
                    (declared.key, declared.min, declared.max)
                ),
                (None, None) => {}
                (found, declared) => panic!("{key:?}: lookup {found:?}, declared {declared:?}"),
            }
        }
    }

    #[test]
    fn ranges_are_within_the_codecs() {
        for (key, min, max) in SUPPORTED {
            let codec = key.valid_versions();
            assert!(*max <= codec.max, "{key:?} max {max} > codec {}", codec.max);
            assert!(*min <= *max);
            if *key != ApiKey::Produce {
                assert!(*min >= codec.min, "{key:?} min {min} < codec {}", codec.min);
            }
        }
    }

    /// The README's table of APIs must list exactly what ApiVersions advertises.
    #[test]
    fn readme_api_table_matches_api_versions() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let mut rows = 0;
        let mut in_table = false;
        for line in readme.lines() {
            if line.starts_with("<!-- api-table-begin") {
                in_table = true;
            } else if line.starts_with("<!-- api-table-end") {
                break;
            } else if in_table && line.starts_with("| ") && !line.starts_with("| API") {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let key: i16 = cells[2].parse().unwrap();
                let (min, max) = cells[3].split_once("..").unwrap();
                assert_eq!(
                    supported(ApiKey::try_from(key).unwrap()),
                    Some((min.parse().unwrap(), max.parse().unwrap())),
                    "README row for {} disagrees with ApiVersions",
                    cells[1]
                );
                rows += 1;
            }
        }
        assert_eq!(
            rows,
            SUPPORTED.len(),
            "README API table must list every advertised API"
        );
    }
}
