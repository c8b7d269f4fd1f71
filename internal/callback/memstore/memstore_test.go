package memstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/callback"
	"github.com/oauth-callback-server/oauth-callback-server/internal/callback/memstore"
	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/storetest"
)

// The memory store reads time.Now: in a testing/synctest bubble that is a
// fake clock, which time.Sleep moves at once.

func TestStoreSuite(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Bubble: true,
		NewStore: func(t *testing.T, cfg callback.StoreConfig) callback.Store {
			return memstore.New(cfg, memstore.Config{MaxEntries: 1000})
		},
		Advance: func(t *testing.T, d time.Duration) { time.Sleep(d) },
	})
}

func TestFullStoreRefusesNewCallbacks(t *testing.T) {
	synctest.Test(t, testFullStoreRefusesNewCallbacks)
}

func testFullStoreRefusesNewCallbacks(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(callback.StoreConfig{TTL: time.Minute}, memstore.Config{MaxEntries: 3})
	t.Cleanup(func() { s.Close() })

	for i := range 3 {
		if _, err := s.Put(ctx, callback.Callback{State: fmt.Sprint(i), Code: "c"}); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	if _, err := s.Put(ctx, callback.Callback{State: "x", Code: "c"}); !errors.Is(err, callback.ErrFull) {
		t.Fatalf("Put when full: got %v, want ErrFull", err)
	}
	if err := s.Register(ctx, callback.AnyApp(), "r", callback.Registration{}); !errors.Is(err, callback.ErrFull) {
		t.Fatalf("Register when full: got %v, want ErrFull", err)
	}
	// A tombstone still holds memory: taking does not free a place...
	if _, err := s.Take(ctx, callback.AnyApp(), "0"); err != nil {
		t.Fatalf("Take: %v", err)
	}
	if _, err := s.Put(ctx, callback.Callback{State: "x", Code: "c"}); !errors.Is(err, callback.ErrFull) {
		t.Fatalf("Put with tombstone: got %v, want ErrFull", err)
	}
	// ...expiry does.
	time.Sleep(time.Minute)
	if _, err := s.Put(ctx, callback.Callback{State: "x", Code: "c"}); err != nil {
		t.Fatalf("Put after expiry: %v", err)
	}
}

func TestBackgroundSweepFreesExpiredEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memstore.New(callback.StoreConfig{TTL: time.Minute}, memstore.Config{MaxEntries: 100, SweepInterval: time.Second})
		t.Cleanup(func() { s.Close() })
		for i := range 10 {
			if _, err := s.Put(context.Background(), callback.Callback{State: fmt.Sprint(i), Code: "c"}); err != nil {
				t.Fatal(err)
			}
		}
		// Nothing reads the store: only the background sweep can free them.
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if n := s.Len(); n != 0 {
			t.Fatalf("entries left after the sweep: %d", n)
		}
	})
}

func TestPutDoesNotShareParams(t *testing.T) {
	s := memstore.New(callback.StoreConfig{TTL: time.Minute}, memstore.Config{MaxEntries: 10})
	t.Cleanup(func() { s.Close() })
	params := map[string]string{"k": "v"}
	if _, err := s.Put(context.Background(), callback.Callback{State: "s", Code: "c", Params: params}); err != nil {
		t.Fatal(err)
	}
	params["k"] = "changed"
	got, err := s.Take(context.Background(), callback.AnyApp(), "s")
	if err != nil {
		t.Fatal(err)
	}
	if got.Params["k"] != "v" {
		t.Fatalf("stored params changed through the caller's map: %q", got.Params["k"])
	}
}

func TestManyShortLivedEntriesDoNotAccumulate(t *testing.T) {
	synctest.Test(t, testManyShortLivedEntriesDoNotAccumulate)
}

func testManyShortLivedEntriesDoNotAccumulate(t *testing.T) {
	// Many short-lived entries must not grow the store without bound.
	s := memstore.New(callback.StoreConfig{TTL: time.Second}, memstore.Config{MaxEntries: 10, SweepInterval: -1})
	t.Cleanup(func() { s.Close() })
	for i := range 20_000 {
		if _, err := s.Put(context.Background(), callback.Callback{State: fmt.Sprint(i), Code: "c"}); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
		time.Sleep(time.Second)
	}
	if s.Len() != 1 {
		t.Fatalf("entries: got %d, want 1", s.Len())
	}
}

func BenchmarkPutTake(b *testing.B) {
	s := memstore.New(callback.StoreConfig{TTL: time.Minute}, memstore.Config{MaxEntries: 1 << 30})
	b.Cleanup(func() { s.Close() })
	storetest.Bench(b, s)
}

// Every path that drops an entry must give its bytes back, or the budget
// shrinks until the store refuses everything.
func TestByteBudgetIsReturnedOnEveryPath(t *testing.T) {
	synctest.Test(t, testByteBudgetIsReturnedOnEveryPath)
}

func testByteBudgetIsReturnedOnEveryPath(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(callback.StoreConfig{TTL: time.Minute, MaxBytes: 1 << 20}, memstore.Config{MaxEntries: 1000, SweepInterval: -1})
	t.Cleanup(func() { s.Close() })
	put := func(state, code string) {
		t.Helper()
		_, _ = s.Put(ctx, callback.Callback{State: state, Code: code})
	}
	put("taken", "c")
	_, _ = s.Take(ctx, callback.AnyApp(), "taken")
	put("conflicted", "a")
	put("conflicted", "b")
	put("pending", "c")
	put("pending", "c") // duplicate
	if err := s.Register(ctx, callback.AnyApp(), "registered", callback.Registration{TTL: 10 * time.Second, Metadata: json.RawMessage(`{"k":"v"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(ctx, callback.AnyApp(), "registered-then-stored", callback.Registration{TTL: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	put("registered-then-stored", "c")
	if all, unregistered := s.Bytes(); all <= 0 || unregistered <= 0 || unregistered >= all {
		t.Fatalf("bytes while holding entries: all %d, unregistered %d", all, unregistered)
	}
	time.Sleep(time.Minute)
	if _, err := s.Pending(ctx); err != nil { // runs the expiry
		t.Fatal(err)
	}
	if all, unregistered := s.Bytes(); all != 0 || unregistered != 0 || s.Len() != 0 {
		t.Fatalf("after expiry: %d entries, %d bytes, %d unregistered; want none", s.Len(), all, unregistered)
	}
}

// The budget charges a callback its Size plus a cost that does not depend
// on what the provider sent: the cap (which counts Size) and the budget
// agree byte for byte.
func TestTheBudgetChargesSizePlusAFixedCost(t *testing.T) {
	s := memstore.New(callback.StoreConfig{}, memstore.Config{})
	defer s.Close()
	received := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	charge := func(c callback.Callback) int64 {
		before, _ := s.Bytes()
		if _, err := s.Put(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		after, _ := s.Bytes()
		return after - before - int64(c.Size())
	}
	plain := charge(callback.Callback{State: "state-1", Code: "c", Params: map[string]string{"p": strings.Repeat("a", 600)}, ReceivedAt: received})
	escaped := charge(callback.Callback{State: "state-2", Code: "c", Params: map[string]string{"p": strings.Repeat("\"\n\u2028", 100)}, ReceivedAt: received})
	if plain != escaped {
		t.Errorf("beyond Size, a plain callback costs %d bytes and an escaped one %d", plain, escaped)
	}
}

// BenchmarkHeapPerPending reports the heap one pending callback holds
// (heap-B/pending), as make bench's fill sends them: a 43-character state,
// a 64-byte code and one more parameter. Forced collections on either side:
// the figure does not move with the machine's load, unlike RSS.
func BenchmarkHeapPerPending(b *testing.B) {
	const n = 100_000
	code := strings.Repeat("c", 64)
	for range b.N {
		s := memstore.New(callback.StoreConfig{TTL: time.Hour}, memstore.Config{MaxEntries: 2 * n, SweepInterval: -1})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			c := callback.Callback{State: fmt.Sprintf("m%042d", i), Code: code, Params: map[string]string{"session_state": "0123456789abcdef"}, ReceivedAt: time.Now()}
			if _, err := s.Put(context.Background(), c); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/pending")
		runtime.KeepAlive(s)
		s.Close()
	}
}

// TestEntriesKeepTheBudgetsShares: small callbacks of made-up states, as
// many rate-limit buckets send them, fill only the unregistered share of
// the entries, as they would of the bytes: every app still registers and
// signs in, and the error says what is full. With the entries a bound of
// their own, the flood filled every entry and each registration got
// ErrFull.
func TestEntriesKeepTheBudgetsShares(t *testing.T) {
	synctest.Test(t, testEntriesKeepTheBudgetsShares)
}

func testEntriesKeepTheBudgetsShares(t *testing.T) {
	ctx := context.Background()
	const maxEntries = 1000
	s := memstore.New(callback.StoreConfig{TTL: time.Minute, MaxBytes: 1 << 20, AppShares: map[string]float64{"mail": 0.5, "files": 0.5}},
		memstore.Config{MaxEntries: maxEntries})
	t.Cleanup(func() { s.Close() })

	flood := 0
	var full *callback.FullError
	for ; flood <= maxEntries; flood++ {
		_, err := s.Put(ctx, callback.Callback{State: fmt.Sprint("made-up-", flood), Code: "c"})
		if errors.As(err, &full) {
			break
		}
		if err != nil {
			t.Fatalf("callback %d: %v", flood, err)
		}
	}
	if full == nil || full.Part != callback.PartUnregistered || full.EntryFloor == 0 {
		t.Fatalf("after %d made-up callbacks: %v, want the unregistered share full, of small entries", flood, full)
	}
	if limit := int(maxEntries * callback.UnregisteredShare); flood > limit {
		t.Fatalf("%d made-up callbacks held, more than their %d entries", flood, limit)
	}
	for _, app := range []string{"mail", "files"} {
		for i := range 50 {
			state := fmt.Sprint(app, "-", i)
			if err := s.Register(ctx, callback.AppNamed(app), state, callback.Registration{}); err != nil {
				t.Fatalf("%s's registration %d after the flood: %v", app, i, err)
			}
			if _, err := s.Put(ctx, callback.Callback{State: state, Code: "c"}); err != nil {
				t.Fatalf("%s's callback %d after the flood: %v", app, i, err)
			}
		}
	}
	if n := s.Len(); n > maxEntries {
		t.Fatalf("%d entries held, more than %d", n, maxEntries)
	}
}
