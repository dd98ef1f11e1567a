package httpapi

import (
	"context"

	"github.com/kelisim/kelisim/consent"
)

// Settings is the citizen's side the /my/ pages and /api/v1/me/ serve.
type Settings interface {
	StartLogin(ctx context.Context, session, iin, phone, lang, clientIP string) (consent.Challenge, error)
	LogIn(ctx context.Context, challengeID, session, code string) (string, consent.IIN, error)
	StartSignatureLogin(ctx context.Context, session, iin, lang, clientIP string) (consent.Challenge, error)
	LogInBySignature(ctx context.Context, challengeID, session string, signed []byte) (string, consent.IIN, error)
	Citizen(ctx context.Context, token string) (consent.IIN, error)
	LogOut(ctx context.Context, token string) error
	Grants(ctx context.Context, citizen consent.IIN) ([]consent.GrantView, error)
	Revoke(ctx context.Context, citizen consent.IIN, r consent.Revocation, by string) (int, error)
	History(ctx context.Context, citizen consent.IIN, limit int) ([]consent.Event, error)
	HistoryPage(ctx context.Context, citizen consent.IIN, before consent.HistoryCursor, limit int) ([]consent.Event, consent.HistoryCursor, error)
	Erase(ctx context.Context, citizen consent.IIN) (consent.Erasure, error)
	Report(ctx context.Context, citizen consent.IIN, t consent.DocumentType, description string) (consent.ErrorReport, error)
	Reports(ctx context.Context, citizen consent.IIN) ([]consent.ErrorReport, error)
	NotificationPrefs(ctx context.Context, citizen consent.IIN) (consent.NotificationPrefs, error)
	Channels() []string
	Documents(ctx context.Context, citizen consent.IIN) ([]consent.ReadDocument, error)
	UnderOlderTerms(ctx context.Context, citizen consent.IIN) ([]consent.Grant, error)
	CurrentTerms() string
	DeclineTerms(ctx context.Context, citizen consent.IIN) (int, error)
	SetNotificationChannels(ctx context.Context, citizen consent.IIN, channels []string, lang string) error
}
