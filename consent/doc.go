// Package consent is Kelisim's domain: citizens, their documents and the
// grants they give partners, with no HTTP, SQL or OAuth library in it.
//
// The shared vocabulary every part uses: IIN and Phone (identity.go),
// Citizen and the Registry (registry.go), DocumentType and Document
// (documents.go), Grant (grant.go), Challenge and the OTP rules (otp.go),
// and errors with a Kind the HTTP adapter maps once (errors.go).
//
// The parts, each a type built from a config struct that declares the small
// interfaces it consumes; none reaches into another:
//
//   - Service (service.go, approve.go): one-time passwords by SMS and the
//     grant a right code records, with its outbox entries, in one
//     transaction.
//   - RequestPolicy and Request (request.go): what a consent page asks and
//     what an answer may be — scopes to documents, untick never add, the
//     day cap, the purpose, the me scope.
//   - Library (library.go): documents read from the state systems and
//     signed (and sealed) for whoever receives them.
//   - Fetcher (access.go): partners fetch (pull), and every fetch lands in
//     the citizen's access history.
//   - Outbox (outbox.go, delivery.go): pushes and revocation notices to
//     partners' webhooks, leased across replicas, retried with backoff,
//     dead-lettered after MaxAttempts.
//   - Shares (shares.go): a document opened to a third party by short code
//     or QR for minutes, with guessing bounded in the store.
//   - Settings and Reports (settings.go, reports.go): the citizen's log-in,
//     grants, revocation, history, erasure and error reports.
//   - Upkeep (upkeep.go): the background round — expiry, forwarding of
//     reports, purges.
//   - PartnerGrants (grants.go): a partner reads and ends the grants it
//     holds (FAPI Grant Management).
//
// Stores implement the interfaces named here (Store, DeliveryStore,
// SettingsStore, ShareStore, ReportStore, Janitor, Limiter); the memory
// and PostgreSQL adapters both pass one contract suite.
package consent
