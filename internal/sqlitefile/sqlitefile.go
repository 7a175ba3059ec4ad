// Package sqlitefile opens the SQLite databases mediator keeps under the
// state directory (the run journal, the daemon's store of submitted runs)
// one way: a file its owner alone can read, in WAL mode.
package sqlitefile

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"github.com/mediatorhq/mediator/internal/privfile"
)

// Open opens (creating it if needed) the database at path with WAL
// journalling, a 10 s busy timeout, synchronous=NORMAL (a commit survives
// a crash of the process, not always a power loss) and transactions that
// take the write lock when they begin; pragmas add to these (e.g.
// "foreign_keys(ON)").
//
// The file is created 0600 before SQLite opens it, because SQLite creates
// the -wal and -shm files with the mode of the database file as it finds
// it, and the side files an earlier version left readable by others are
// narrowed. (Setting the umask around the open instead would change it for
// every goroutine of the process that creates a file meanwhile.)
func Open(path string, pragmas ...string) (*sql.DB, error) {
	f, err := privfile.OpenFile(path, os.O_RDWR)
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	for _, side := range []string{"-wal", "-shm", "-journal"} {
		if err := privfile.Narrow(path + side); err != nil {
			return nil, err
		}
	}
	q := url.Values{}
	for _, p := range append([]string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)"}, pragmas...) {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	// The file is opened at the first query; the caller's errors name it.
	return sql.Open("sqlite", "file:"+path+"?"+q.Encode())
}

// Column is a column added to a table after the table's first version,
// with its definition, such as "INTEGER NOT NULL DEFAULT 0": existing rows
// take the default.
type Column struct{ Table, Name, Def string }

// AddColumns adds to db the columns it lacks, so a database an earlier
// version made gets them when it is opened. Another process adding one
// at the same time is no error.
func AddColumns(db *sql.DB, cols []Column) error {
	for _, c := range cols {
		var n int
		err := db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, c.Table, c.Name).Scan(&n)
		if err != nil {
			return fmt.Errorf("read the schema of table %s: %w", c.Table, err)
		}
		if n > 0 {
			continue
		}
		if _, err := db.Exec(`ALTER TABLE ` + c.Table + ` ADD COLUMN ` + c.Name + ` ` + c.Def); err != nil {
			if strings.Contains(err.Error(), "duplicate column") {
				continue
			}
			return fmt.Errorf("add column %s.%s: %w", c.Table, c.Name, err)
		}
	}
	return nil
}
