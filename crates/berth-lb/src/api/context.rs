//! What every Query API handler is given: the call ([`Ctx`]) with the caller's scope
//! and the parts of ELBv2 it works on (the store, the load balancers' `DNSName`, the
//! listener sockets), and the one way it answers ([`Ctx::respond`]).

use berth_store::Store;

use crate::keys::Scope;
use crate::listener_sockets::ListenerSockets;
use berth_query::xml;

/// Everything a handler knows about the call it serves.
pub struct Ctx<'a> {
    /// Where the configuration is kept.
    pub store: &'a dyn Store,
    /// Every load balancer's `DNSName`.
    pub dns_name: &'a str,
    /// Where CreateListener binds ports and hands the sockets to the data plane.
    pub sockets: &'a ListenerSockets,
    /// The caller's account and region.
    pub scope: Scope,
    pub action: String,
    pub request_id: String,
}

impl Ctx<'_> {
    /// The response document for this call, with the result `result` writes.
    pub fn respond(&self, result: impl FnOnce(&mut xml::Xml)) -> String {
        xml::response(crate::NAMESPACE, &self.action, &self.request_id, result)
    }
}
