//! The `vector` source: Vector's native gRPC protocol (`vector.Vector/PushEvents`, and
//! `HealthCheck`; the standard `grpc.health.v1` service too). A push is answered OK only
//! after its events were processed and their alerts accepted by every sink; UNAVAILABLE
//! when saturated, shutting down or a sink failed (Vector retries); INVALID_ARGUMENT for a
//! request that can never succeed.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::{submit, InFlight, Shared};
use crate::source::vector::events_to_ndjson;
use crate::source::vector::proto::vector::vector_server::{Vector, VectorServer};
use crate::source::vector::proto::vector::{HealthCheckRequest, HealthCheckResponse, PushEventsRequest, PushEventsResponse, ServingStatus};
use crate::source::{Chunk, Origin};

pub(super) struct GrpcSource {
    pub name: String,
    pub shared: Arc<Shared>,
}

#[tonic::async_trait]
impl Vector for GrpcSource {
    async fn push_events(&self, request: Request<PushEventsRequest>) -> Result<Response<PushEventsResponse>, Status> {
        let m = &self.shared.metrics;
        m.requests_total.fetch_add(1, Ordering::Relaxed);
        if self.shared.shutting_down.load(Ordering::SeqCst) {
            m.requests_rejected_busy_total.fetch_add(1, Ordering::Relaxed);
            return Err(Status::unavailable("shutting down"));
        }
        let _in_flight = InFlight::new(&self.shared);
        let converted = events_to_ndjson(&request.get_ref().events);
        if converted.skipped > 0 {
            m.events_not_logs_total.fetch_add(converted.skipped as u64, Ordering::Relaxed);
        }
        if converted.logs == 0 {
            return Ok(Response::new(PushEventsResponse {}));
        }
        let (tx, rx) = oneshot::channel();
        let chunk = Chunk { bytes: Bytes::from(converted.ndjson), origin: Origin::new(&self.name), first_line: 1 };
        if let Err(why) = submit(&self.shared, chunk, Some(tx)) {
            m.requests_rejected_busy_total.fetch_add(1, Ordering::Relaxed);
            return Err(Status::unavailable(format!("{why}, retry later")));
        }
        match rx.await {
            Ok(Ok(())) => Ok(Response::new(PushEventsResponse {})),
            Ok(Err(e)) => Err(Status::unavailable(format!("alerts could not be delivered: {e}"))),
            Err(_) => Err(Status::unavailable("shutting down")),
        }
    }

    async fn health_check(&self, _: Request<HealthCheckRequest>) -> Result<Response<HealthCheckResponse>, Status> {
        let status = if self.shared.shutting_down.load(Ordering::SeqCst) { ServingStatus::NotServing } else { ServingStatus::Serving };
        Ok(Response::new(HealthCheckResponse { status: status as i32 }))
    }
}

/// Serve until `stop` resolves, then finish the requests in flight.
pub(super) async fn serve_grpc(
    listener: tokio::net::TcpListener,
    source: GrpcSource,
    max_message: usize,
    tls: Option<super::tls::TlsFiles>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<VectorServer<GrpcSource>>().await;
    let service = VectorServer::new(source)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(max_message);
    let mut builder = tonic::transport::Server::builder();
    if let Some(t) = tls {
        let identity = tonic::transport::Identity::from_pem(t.cert_pem, t.key_pem);
        builder = builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?;
    }
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    builder.add_service(health_service).add_service(service).serve_with_incoming_shutdown(incoming, stop).await?;
    Ok(())
}
