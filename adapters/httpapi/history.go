package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/kelisim/kelisim/consent"
)

// The history's public log: the signed heads for anybody, consistency
// proofs between them, and a citizen's own chain with its inclusion
// proofs (settings page and me API).

// Ledger is what the log's routes need.
type Ledger interface {
	Checkpoints(ctx context.Context, limit int) ([]consent.Checkpoint, error)
	Checkpoint(ctx context.Context, size int64) (consent.Checkpoint, error)
	Consistency(ctx context.Context, first, second int64) ([][]byte, error)
	Export(ctx context.Context, citizen consent.IIN) (consent.HistoryExport, error)
}

type historyAPI struct {
	ledger Ledger
	log    *slog.Logger
}

type checkpointJSON struct {
	Size       int64  `json:"tree_size"`
	Root       []byte `json:"root_hash"`
	At         string `json:"published_at"`
	Checkpoint string `json:"checkpoint"` // the signed head (JWS)
}

func toJSON(cp consent.Checkpoint) checkpointJSON {
	return checkpointJSON{Size: cp.Size, Root: cp.Root, At: cp.At.UTC().Format("2006-01-02T15:04:05Z"), Checkpoint: cp.Signed}
}

// checkpoints answers GET /history/checkpoints: the latest 100 heads.
func (a *historyAPI) checkpoints(c *gin.Context) {
	cps, err := a.ledger.Checkpoints(c.Request.Context(), 100)
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	out := make([]checkpointJSON, len(cps))
	for i, cp := range cps {
		out[i] = toJSON(cp)
	}
	c.Header("Cache-Control", "no-cache")
	c.JSON(http.StatusOK, gin.H{"checkpoints": out})
}

// checkpoint answers GET /history/checkpoints/:size (or latest).
func (a *historyAPI) checkpoint(c *gin.Context) {
	ctx := c.Request.Context()
	var cp consent.Checkpoint
	var err error
	if c.Param("size") == "latest" {
		var cps []consent.Checkpoint
		if cps, err = a.ledger.Checkpoints(ctx, 1); err == nil && len(cps) == 0 {
			err = consent.ErrNoCheckpoint
		} else if err == nil {
			cp = cps[0]
		}
	} else if size, perr := strconv.ParseInt(c.Param("size"), 10, 64); perr != nil {
		err = consent.ErrNoCheckpoint
	} else {
		cp, err = a.ledger.Checkpoint(ctx, size)
	}
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.JSON(http.StatusOK, toJSON(cp))
}

// consistency answers GET /history/consistency?first=&second=.
func (a *historyAPI) consistency(c *gin.Context) {
	first, err1 := strconv.ParseInt(c.Query("first"), 10, 64)
	second, err2 := strconv.ParseInt(c.Query("second"), 10, 64)
	if err1 != nil || err2 != nil {
		problem(c, http.StatusBadRequest, "Invalid request", "first and second are the sizes of two published heads.")
		return
	}
	proof, err := a.ledger.Consistency(c.Request.Context(), first, second)
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	if proof == nil {
		proof = [][]byte{}
	}
	c.Header("Cache-Control", "public, max-age=86400")
	c.JSON(http.StatusOK, gin.H{"first": first, "second": second, "proof": proof})
}

// export answers the citizen's app with the citizen's chain and proofs.
func (a *historyAPI) export(c *gin.Context) {
	x, err := a.ledger.Export(c.Request.Context(), citizen(c))
	if err != nil {
		renderError(c, a.log, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, x)
}

// historyExport sends the logged-in citizen their chain as a file.
func (p *myPages) historyExport(c *gin.Context) {
	x, err := p.ledger.Export(c.Request.Context(), citizen(c))
	if err != nil {
		p.fail(c, p.localizer(c, ""), err)
		return
	}
	raw, _ := json.MarshalIndent(x, "", "  ")
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Disposition", `attachment; filename="kelisim-history.json"`)
	c.Data(http.StatusOK, "application/json", raw)
}
