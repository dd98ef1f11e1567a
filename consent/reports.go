package consent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ReportStatus is where an error report stands.
//
//	received ──forwarded to the document's source──▶ forwarded
//	forwarded ──the source answers──▶ resolved | rejected
//
// A report the source could not take stays received and is forwarded
// again by the upkeep job.
type ReportStatus string

const (
	ReportReceived  ReportStatus = "received"
	ReportForwarded ReportStatus = "forwarded"
	ReportResolved  ReportStatus = "resolved"
	ReportRejected  ReportStatus = "rejected"
)

// ErrorReport is a citizen's report that a document is wrong: somebody
// else's, or with wrong data.
type ErrorReport struct {
	ID          string       `json:"tracking_number"`
	Citizen     IIN          `json:"-"`
	Document    DocumentType `json:"document"`
	Description string       `json:"description"`
	Status      ReportStatus `json:"status"`
	SourceRef   string       `json:"source_reference,omitempty"`
	Note        string       `json:"note,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
}

// ReportStore keeps error reports.
type ReportStore interface {
	// CreateReport returns ErrReportExists for a taken tracking number.
	CreateReport(ctx context.Context, r ErrorReport) error
	// UpdateReport stores where r stands (status, source reference, note,
	// updated_at), never what was reported; ErrReportNotFound for an
	// unknown tracking number.
	UpdateReport(ctx context.Context, r ErrorReport) error
	// GetReport returns ErrReportNotFound for an unknown tracking number.
	GetReport(ctx context.Context, id string) (ErrorReport, error)
	// ListReports returns the citizen's reports, newest first (reports
	// made at one instant by tracking number).
	ListReports(ctx context.Context, citizen IIN) ([]ErrorReport, error)
	// ReceivedReports returns up to limit reports not yet forwarded,
	// oldest first (reports made at one instant by tracking number).
	ReceivedReports(ctx context.Context, limit int) ([]ErrorReport, error)
}

// ErrorReceiver is a document source that takes error reports.
type ErrorReceiver interface {
	// ReportError hands the report to the responsible state body and
	// returns its reference there.
	ReportError(ctx context.Context, r ErrorReport) (string, error)
}

// Report errors.
var (
	ErrReportNotFound    = newError(KindNotFound, "", "no report with that tracking number")
	ErrReportExists      = errors.New("a report with this tracking number exists")
	ErrReportDescription = newError(KindInvalid, "err_report_description", "describe the error in 10 to 1000 characters")
	ErrReportDocument    = newError(KindInvalid, "err_report_description", "a report names a known document type")
	ErrReportStatus      = newError(KindInvalid, "", "status is resolved or rejected")
)

// trackingNumber is "KL-" and 10 characters of Crockford base32.
func trackingNumber() string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "KL-" + string(b)
}

// Reports handles citizens' error reports.
type Reports struct {
	store    ReportStore
	receiver ErrorReceiver
	types    *Catalogue
	now      func() time.Time
}

// ReportsConfig is what Reports are built from.
type ReportsConfig struct {
	Store    ReportStore
	Receiver ErrorReceiver // the document sources' desk for reports
	Types    *Catalogue    // what a report may be about
	Now      func() time.Time
}

// NewReports checks cfg and returns the error-report service.
func NewReports(cfg ReportsConfig) (*Reports, error) {
	if err := required(map[string]bool{"Store": cfg.Store == nil, "Receiver": cfg.Receiver == nil, "Types": cfg.Types == nil, "Now": cfg.Now == nil}); err != nil {
		return nil, fmt.Errorf("consent.NewReports: %w", err)
	}
	return &Reports{store: cfg.Store, receiver: cfg.Receiver, types: cfg.Types, now: cfg.Now}, nil
}

// Report records a citizen's report and forwards it to the document's
// source; when the source cannot take it now, it stays received and is
// forwarded later. Returns ErrReportDescription or ErrNoDocument for bad
// input.
func (r *Reports) Report(ctx context.Context, citizen IIN, t DocumentType, description string) (ErrorReport, error) {
	description = strings.TrimSpace(description)
	if n := utf8.RuneCountInString(description); n < 10 || n > 1000 {
		return ErrorReport{}, &InputError{Field: "description", Err: ErrReportDescription}
	}
	if !r.types.Known(t) {
		return ErrorReport{}, &InputError{Field: "document", Err: ErrReportDocument}
	}
	now := r.now()
	rep := ErrorReport{ID: trackingNumber(), Citizen: citizen, Document: t, Description: description,
		Status: ReportReceived, CreatedAt: now, UpdatedAt: now}
	if err := r.store.CreateReport(ctx, rep); err != nil {
		return ErrorReport{}, err
	}
	return r.forward(ctx, rep), nil
}

// forward hands a received report to its source; a failure leaves it
// received for the next try.
func (r *Reports) forward(ctx context.Context, rep ErrorReport) ErrorReport {
	ref, err := r.receiver.ReportError(ctx, rep)
	if err != nil {
		return rep
	}
	next := rep
	next.Status, next.SourceRef, next.UpdatedAt = ReportForwarded, ref, r.now()
	if err := r.store.UpdateReport(ctx, next); err != nil {
		return rep
	}
	return next
}

// ForwardReceived forwards reports that could not be forwarded before.
func (r *Reports) ForwardReceived(ctx context.Context) error {
	reps, err := r.store.ReceivedReports(ctx, 50)
	if err != nil {
		return err
	}
	for _, rep := range reps {
		r.forward(ctx, rep)
	}
	return nil
}

// List returns the citizen's reports.
func (r *Reports) List(ctx context.Context, citizen IIN) ([]ErrorReport, error) {
	return r.store.ListReports(ctx, citizen)
}

// Answer records the source's answer to a forwarded report.
func (r *Reports) Answer(ctx context.Context, id string, status ReportStatus, note string) (ErrorReport, error) {
	if status != ReportResolved && status != ReportRejected {
		return ErrorReport{}, ErrReportStatus
	}
	rep, err := r.store.GetReport(ctx, id)
	if err != nil {
		return ErrorReport{}, err
	}
	rep.Status, rep.Note, rep.UpdatedAt = status, strings.TrimSpace(note), r.now()
	return rep, r.store.UpdateReport(ctx, rep)
}
