//! The frame of every hostile test: our server on lavapipe with the test's settings, Mesa's
//! compute loop connected to it, the attack, then the three verdicts.

use super::bystander::Bystander;
use super::server::Server;
use super::venus::Venus;

/// The renderer name of the hostile client in the server's log.
pub const HOSTILE: &str = "hostile";

/// Iterations of the bystander's compute loop: long enough to span the attack.
const BYSTANDER_ITERATIONS: u32 = 400;

pub struct Scenario {
    pub server: Server,
    bystander: Bystander,
}

impl Scenario {
    /// The server with `env` (`VENUS_RS_*` settings) and the bystander running.
    pub fn start(env: &[(&str, &str)]) -> Scenario {
        let server = Server::start(env);
        let bystander = Bystander::start(&server, BYSTANDER_ITERATIONS);
        Scenario { server, bystander }
    }

    /// A new hostile client with a context and a reply window.
    pub fn hostile(&self) -> Venus {
        Venus::connect(&self.server, HOSTILE)
    }

    /// The bystander's work completed and the server still serves new clients.
    pub fn assert_unharmed(self) -> Server {
        let Scenario {
            mut server,
            bystander,
        } = self;
        bystander.assert_completes(&server);
        server.assert_serving();
        server
    }

    /// [`Scenario::assert_unharmed`], and the hostile client's context ended (FATAL or
    /// refused) with `reason` in the log, its process exiting cleanly.
    pub fn assert_hostile_ended_for(self, reason: &str) -> Server {
        let server = self.assert_unharmed();
        server.assert_client_ended_for(HOSTILE, reason);
        server
    }
}
