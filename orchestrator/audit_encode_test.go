package orchestrator

import (
	"encoding/json"
	"testing"
	"time"
)

// The hand-written record encoder must produce exactly what encoding/json
// produces for the same record, so the log stays standard JSON whatever a
// server or tool name or an error message contains.
func TestAppendRecordMatchesEncodingJSON(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("X", 3600))
	nasty := "q\"uote \\ back\nnl\r\t\b\f \x01 <tag> & \u2028\u2029 é 日本 \xff\xfe bad"
	for _, rec := range []AuditRecord{
		{Seq: 1, CallID: "abc-1", Server: "weather", Tool: "get_forecast", ArgsDigest: "sha256:00", DurationMS: 0, Outcome: "ok"},
		{Seq: 1 << 40, CallID: nasty, Server: nasty, Tool: nasty, ArgsDigest: nasty, Args: json.RawMessage(`{"a":[1,"x"]}`),
			DurationMS: 12.345, Outcome: "refused", ErrorClass: nasty, Error: nasty, Prev: "sha256:ff"},
		{Seq: 7, DurationMS: 123456789.001, Outcome: "error", Error: "x"},
		{Seq: 8, CallID: "c-8", Server: "calendar", Tool: "create_event", Run: "20261126-ab12", Step: nasty, Outcome: "ok"},
	} {
		want := rec
		want.Time = start.UTC().Format(time.RFC3339Nano)
		wantJSON, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRecord(nil, &rec, start); string(got) != string(wantJSON) {
			t.Errorf("appendRecord:\n got %s\nwant %s", got, wantJSON)
		}
	}
}
