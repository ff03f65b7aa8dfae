//! The `vector` alert sink: alert documents as log events over Vector's native gRPC
//! protocol, to a Vector `vector` source (which answers only after its own sinks
//! delivered them, when acknowledgements are on).

use std::time::Duration;

use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use super::output::{with_retries, AlertBatch, AlertSink, Attempt, SinkError};
use crate::source::vector::doc_to_event;
use crate::source::vector::proto::vector::vector_client::VectorClient;
use crate::source::vector::proto::vector::PushEventsRequest;

/// Events per `PushEvents` request by default (Vector's own sink batches 1000).
pub const DEFAULT_MAX_EVENTS: usize = 1000;

pub struct VectorSink {
    pub name: String,
    endpoint: Endpoint,
    compression: bool,
    max_events: usize,
    retry_budget: Duration,
    /// The sink is called from the engine thread, which is not async.
    runtime: tokio::runtime::Runtime,
    client: Option<VectorClient<Channel>>,
}

impl VectorSink {
    /// # Errors
    /// An address that is not `host:port` or `http://host:port`.
    pub fn new(name: &str, address: &str, compression: bool, max_events: usize, timeout: Duration, retry_budget: Duration) -> anyhow::Result<Self> {
        if address.starts_with("https://") {
            anyhow::bail!("sinks.{name}.address: TLS to Vector is not supported; use http:// on a trusted network");
        }
        let uri = if address.starts_with("http://") { address.to_string() } else { format!("http://{address}") };
        let endpoint = Endpoint::from_shared(uri).map_err(|e| anyhow::anyhow!("sinks.{name}.address: {e}"))?.timeout(timeout).connect_timeout(timeout);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(VectorSink { name: name.to_string(), endpoint, compression, max_events: max_events.max(1), retry_budget, runtime, client: None })
    }

    fn push(&mut self, request: PushEventsRequest) -> Attempt {
        let client = match &mut self.client {
            Some(c) => c,
            None => match self.runtime.block_on(self.endpoint.connect()) {
                Ok(ch) => {
                    let mut c = VectorClient::new(ch);
                    if self.compression {
                        c = c.send_compressed(CompressionEncoding::Gzip);
                    }
                    self.client.insert(c)
                }
                Err(e) => return Attempt::Retry(format!("cannot connect: {e}")),
            },
        };
        match self.runtime.block_on(client.push_events(request)) {
            Ok(_) => Attempt::Delivered,
            Err(status) if retriable(status.code()) => {
                if status.code() == Code::Unknown || status.code() == Code::Unavailable {
                    self.client = None;
                }
                Attempt::Retry(format!("{:?}: {}", status.code(), status.message()))
            }
            Err(status) => Attempt::GiveUp(format!("{:?}: {}", status.code(), status.message())),
        }
    }
}

/// Vector's rule for its own `vector` sink: everything is retried except these codes.
fn retriable(code: Code) -> bool {
    !matches!(
        code,
        Code::NotFound
            | Code::InvalidArgument
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::Unauthenticated
            | Code::DataLoss
    )
}

impl AlertSink for VectorSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn deliver(&mut self, batch: &AlertBatch) -> Result<(), SinkError> {
        for docs in batch.docs.chunks(self.max_events) {
            let request = PushEventsRequest { events: docs.iter().map(doc_to_event).collect() };
            let name = self.name.clone();
            let budget = self.retry_budget;
            with_retries(&name, budget, || self.push(request.clone()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_retry_codes() {
        assert!(retriable(Code::Unavailable) && retriable(Code::Internal) && retriable(Code::ResourceExhausted));
        assert!(!retriable(Code::InvalidArgument) && !retriable(Code::DataLoss) && !retriable(Code::Unauthenticated));
    }
}
