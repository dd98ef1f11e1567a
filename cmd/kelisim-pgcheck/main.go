// Command kelisim-pgcheck exits 0 when the PostgreSQL server at the URL given
// as its argument answers, for `make test` to tell what is missing.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] == "" {
		fmt.Fprintln(os.Stderr, "usage: kelisim-pgcheck DATABASE_URL")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "kelisim-pgcheck:", err)
		os.Exit(1)
	}
	defer conn.Close(ctx)
	if err := conn.Ping(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "kelisim-pgcheck:", err)
		os.Exit(1)
	}
}
