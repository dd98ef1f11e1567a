package main

import (
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.Issuer != "http://127.0.0.1:8080" || c.MetricsAddr != "127.0.0.1:9090" {
		t.Errorf("defaults: %+v", c)
	}
	if !c.Embedded() || !c.AllowLoopback || c.LogFormat != "text" || c.AccessTokenTTL != 10*time.Minute || !c.Migrate {
		t.Errorf("defaults: %+v", c)
	}
	if c.Terms.Version != "2026-11-01" || !strings.Contains(string(c.Terms.Text), "Terms of consent") {
		t.Errorf("the shipped terms: %q", c.Terms.Version)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string // each must appear in the error
	}{
		{"database without secrets", map[string]string{"KELISIM_DATABASE_URL": "postgres://x"},
			[]string{"KELISIM_SECRET: is required", "KELISIM_ADMIN_TOKEN: is required", "KELISIM_SMS: is required"}},
		{"http sms without url", map[string]string{"KELISIM_SMS": "http"}, []string{"KELISIM_SMS_URL"}},
		{"http registry without url", map[string]string{"KELISIM_REGISTRY": "http"}, []string{"KELISIM_REGISTRY_URL", "KELISIM_TRUST_LIST: is required"}},
		{"revocation lists without a CA", map[string]string{"KELISIM_SIGNATURE_CRL": "/tmp/ca.crl"}, []string{"KELISIM_SIGNATURE_CRL"}},
		{"a signature CA that is not there", map[string]string{"KELISIM_SIGNATURE_CA": "/nonexistent/ca.pem"}, []string{"KELISIM_SIGNATURE_CA"}},
		{"a trust list that is not there", map[string]string{"KELISIM_TRUST_LIST": "/nonexistent/trust.json"}, []string{"KELISIM_TRUST_LIST"}},
		{"a document types file that is not there", map[string]string{"KELISIM_DOCUMENT_TYPES_FILE": "/nonexistent/types.json"}, []string{"KELISIM_DOCUMENT_TYPES_FILE"}},
		{"bad proxy", map[string]string{"KELISIM_TRUSTED_PROXIES": "10.0.0.0/8, proxy"}, []string{"KELISIM_TRUSTED_PROXIES"}},
		{"grant days beyond cap", map[string]string{"KELISIM_MAX_GRANT_DAYS": "30", "KELISIM_GRANT_DAYS": "90"}, []string{"KELISIM_GRANT_DAYS"}},
		{"short secret", map[string]string{"KELISIM_SECRET": "short"}, []string{"KELISIM_SECRET: is 5 characters"}},
		{"http issuer off loopback", map[string]string{"KELISIM_ISSUER": "http://gateway.example"}, []string{"KELISIM_ISSUER"}},
		{"bad duration", map[string]string{"KELISIM_ACCESS_TOKEN_TTL": "forever"}, []string{"KELISIM_ACCESS_TOKEN_TTL"}},
		{"bad addr", map[string]string{"KELISIM_ADDR": "8080"}, []string{"KELISIM_ADDR"}},
		{"bad bool", map[string]string{"KELISIM_MIGRATE": "maybe"}, []string{"KELISIM_MIGRATE"}},
		{"bad pool", map[string]string{"KELISIM_DB_MAX_CONNS": "1"}, []string{"KELISIM_DB_MAX_CONNS"}},
		{"lease shorter than two posts", map[string]string{"KELISIM_DELIVERY_LEASE": "15s", "KELISIM_WEBHOOK_TIMEOUT": "10s"}, []string{"KELISIM_DELIVERY_LEASE"}},
		{"no delivery at once", map[string]string{"KELISIM_DELIVERY_PARALLEL": "0"}, []string{"KELISIM_DELIVERY_PARALLEL"}},
		{"terms without their text", map[string]string{"KELISIM_TERMS_VERSION": "2027-01-01"}, []string{"KELISIM_TERMS_FILE", "2027-01-01"}},
		{"a terms file that is not there", map[string]string{"KELISIM_TERMS_FILE": "/nonexistent/terms.txt"}, []string{"KELISIM_TERMS_FILE"}},
		{"history kept less than a year", map[string]string{"KELISIM_HISTORY_RETENTION": "720h"}, []string{"KELISIM_HISTORY_RETENTION", "9504h"}},
		{"history dropped before the longest grant ends", map[string]string{"KELISIM_MAX_GRANT_DAYS": "1825", "KELISIM_HISTORY_RETENTION": "43800h"},
			[]string{"KELISIM_HISTORY_RETENTION", "44544h"}},
		{"a collector that is not a URL", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://c/v1/traces"},
			[]string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"}},
		{"phone total within one address's share", map[string]string{"KELISIM_OTP_PHONE_LIMIT": "5", "KELISIM_OTP_PHONE_TOTAL_LIMIT": "5"}, []string{"KELISIM_OTP_PHONE_TOTAL_LIMIT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(envOf(tt.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestConfigHTTPSIssuer(t *testing.T) {
	c, err := loadConfig(envOf(map[string]string{"KELISIM_ISSUER": "https://kelisim.example/"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://kelisim.example" || c.AllowLoopback {
		t.Errorf("issuer %q allowLoopback %v", c.Issuer, c.AllowLoopback)
	}
}
