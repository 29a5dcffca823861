package infer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"reflect"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/goformer/goformer/clip"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*shardEntry)(nil)).Elem())
	register.DoFn3x1[context.Context, string, func(string), error](&expandFn{})
	register.DoFn3x0[string, string, func(int, shardEntry)](&shardFn{})
	register.DoFn2x0[int, func(int, shardEntry)](&markerFn{})
	register.DoFn4x1[context.Context, int, func(*shardEntry) bool, func(string), error](&writeShardFn{})
	register.DoFn4x1[context.Context, int, func(*shardEntry) bool, func(string), error](&writeIndexFn{})
	register.Emitter1[string]()
	register.Emitter2[int, shardEntry]()
	register.Iter1[shardEntry]()
}

// Files returns a PCollection<string> of the files matching globs (local
// paths, or URIs of the file systems the program imports), listed when the
// job runs and spread over the workers (Reshuffle).
func Files(s beam.Scope, globs ...string) beam.PCollection {
	s = s.Scope("goformer.Files")
	g := beam.CreateList(s, globs)
	return beam.Reshuffle(s, beam.ParDo(s, &expandFn{}, g))
}

// expandFn lists the files matching a glob.
type expandFn struct{ fs fileSystems }

func (f *expandFn) ProcessElement(ctx context.Context, glob string, emit func(string)) error {
	fs, err := f.fs.get(ctx, glob)
	if err != nil {
		return err
	}
	files, err := fs.List(ctx, glob)
	if err != nil {
		return fmt.Errorf("goformer/beam: listing %s: %w", glob, err)
	}
	sort.Strings(files)
	for _, name := range files {
		emit(name)
	}
	return nil
}

func (f *expandFn) Teardown() { f.fs.close() }

// shardEntry is one keyed line on its way to a shard (Key empty: the
// marker that makes every shard exist).
type shardEntry struct {
	Key  string
	Line string
}

// shardOf returns the shard of key among n: a hash, so that the same key
// always goes to the same shard, in every run.
func shardOf(key string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(n))
}

type shardFn struct{ Shards int }

func (f *shardFn) ProcessElement(key, line string, emit func(int, shardEntry)) {
	emit(shardOf(key, f.Shards), shardEntry{Key: key, Line: line})
}

type markerFn struct{}

func (markerFn) ProcessElement(shard int, emit func(int, shardEntry)) { emit(shard, shardEntry{}) }

// groupShards groups a PCollection<KV<string, string>> by shard; every
// shard of 0…n−1 gets a group, empty or not.
func groupShards(s beam.Scope, records beam.PCollection, n int) beam.PCollection {
	keyed := beam.ParDo(s, &shardFn{Shards: n}, records)
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	markers := beam.ParDo(s, markerFn{}, beam.CreateList(s, ids))
	return beam.GroupByKey(s, beam.Flatten(s, keyed, markers))
}

// collect reads a shard's group: its entries sorted by key, one per key
// (the first line in sorted order when a key came more than once).
func collect(iter func(*shardEntry) bool) []shardEntry {
	var es []shardEntry
	var e shardEntry
	for iter(&e) {
		if e.Key != "" || e.Line != "" {
			es = append(es, e)
		}
	}
	sort.Slice(es, func(i, j int) bool {
		if es[i].Key != es[j].Key {
			return es[i].Key < es[j].Key
		}
		return es[i].Line < es[j].Line
	})
	out := es[:0]
	for i, e := range es {
		if i > 0 && e.Key == es[i-1].Key {
			continue
		}
		out = append(out, e)
	}
	return out
}

// testHookWrite, when set (by tests, in process), is called before each
// shard file is written; an error it returns fails the bundle.
var testHookWrite func(name string) error

// WriteJSONL writes records, a PCollection<KV<string, string>> of keys and
// JSON lines (Result.Records or Result.DeadLetter), as shards files
// prefix/name-SSSSS-of-NNNNN.jsonl, one line per key, sorted by key. Each
// shard is written whole, atomically, by the one group of a GroupByKey, so
// that a retried bundle or a rerun over the same prefix replaces it; every
// shard is written, empty or not. It returns the written file names.
func WriteJSONL(s beam.Scope, records beam.PCollection, prefix, name string, shards int) beam.PCollection {
	if shards < 1 {
		shards = 1
	}
	s = s.Scope("goformer.WriteJSONL")
	return beam.ParDo(s, &writeShardFn{Prefix: prefix, Name: name, Shards: shards}, groupShards(s, records, shards))
}

type writeShardFn struct {
	Prefix string
	Name   string
	Shards int
	fs     fileSystems
}

func (f *writeShardFn) ProcessElement(ctx context.Context, shard int, iter func(*shardEntry) bool, emit func(string)) error {
	var b bytes.Buffer
	for _, e := range collect(iter) {
		b.WriteString(e.Line)
		b.WriteByte('\n')
	}
	name := joinPath(f.Prefix, shardName(f.Name, shard, f.Shards, "jsonl"))
	if testHookWrite != nil {
		if err := testHookWrite(name); err != nil {
			return err
		}
	}
	if err := f.fs.writeAtomic(ctx, name, b.Bytes()); err != nil {
		return err
	}
	emit(name)
	return nil
}

func (f *writeShardFn) Teardown() { f.fs.close() }

// WriteIndex writes the records of an embedding task (Result.Records of
// EmbedImages or EmbedTexts) as sharded indexes:
// prefix/index-SSSSS-of-NNNNN.gfidx, CLIP index files (package clip's
// format, ids are the input paths or texts) that `goformer search -index`
// and clip.LoadIndex open, and prefix/vectors-SSSSS-of-NNNNN.jsonl, one
// {"id", "vector"} line per input. Shards are made as WriteJSONL makes
// them (one entry per id, sorted, written atomically). An empty shard gets
// an empty vectors file and no index file (an index records its model,
// which an empty shard does not know); records without a model
// fingerprint (models other than CLIP) get only vectors files. It returns
// the written file names.
func WriteIndex(s beam.Scope, records beam.PCollection, prefix string, shards int) beam.PCollection {
	if shards < 1 {
		shards = 1
	}
	s = s.Scope("goformer.WriteIndex")
	return beam.ParDo(s, &writeIndexFn{Prefix: prefix, Shards: shards}, groupShards(s, records, shards))
}

type writeIndexFn struct {
	Prefix string
	Shards int
	fs     fileSystems
}

// VectorLine is one line of WriteIndex's vectors files.
type VectorLine struct {
	ID     string    `json:"id"`
	Vector []float32 `json:"vector"`
}

func (f *writeIndexFn) ProcessElement(ctx context.Context, shard int, iter func(*shardEntry) bool, emit func(string)) error {
	var vec bytes.Buffer
	var ix *clip.Index
	fingerprint := ""
	for _, e := range collect(iter) {
		var rec Record
		if err := json.Unmarshal([]byte(e.Line), &rec); err != nil {
			return fmt.Errorf("goformer/beam: record of %s: %w", e.Key, err)
		}
		var em Embedding
		if err := json.Unmarshal(rec.Result, &em); err != nil || len(em.Vector) == 0 {
			return fmt.Errorf("goformer/beam: record of %s holds no embedding (WriteIndex takes the records of EmbedImages or EmbedTexts)", e.Key)
		}
		line, err := json.Marshal(VectorLine{ID: e.Key, Vector: em.Vector})
		if err != nil {
			return err
		}
		vec.Write(line)
		vec.WriteByte('\n')
		if rec.ModelFingerprint == "" {
			continue
		}
		if ix == nil {
			fingerprint = rec.ModelFingerprint
			if ix, err = clip.NewIndexFor(fingerprint, len(em.Vector)); err != nil {
				return fmt.Errorf("goformer/beam: index shard %d: %w", shard, err)
			}
		} else if rec.ModelFingerprint != fingerprint {
			return fmt.Errorf("goformer/beam: index shard %d mixes embeddings of two models (%s and %s)", shard, fingerprint, rec.ModelFingerprint)
		}
		if err := ix.Add(e.Key, em.Vector); err != nil {
			return fmt.Errorf("goformer/beam: index shard %d: %w", shard, err)
		}
	}
	names := []string{joinPath(f.Prefix, shardName("vectors", shard, f.Shards, "jsonl"))}
	data := [][]byte{vec.Bytes()}
	if ix != nil {
		var b bytes.Buffer
		if _, err := ix.WriteTo(&b); err != nil {
			return err
		}
		names = append(names, joinPath(f.Prefix, shardName("index", shard, f.Shards, "gfidx")))
		data = append(data, b.Bytes())
	}
	for i, name := range names {
		if testHookWrite != nil {
			if err := testHookWrite(name); err != nil {
				return err
			}
		}
		if err := f.fs.writeAtomic(ctx, name, data[i]); err != nil {
			return err
		}
		emit(name)
	}
	return nil
}

func (f *writeIndexFn) Teardown() { f.fs.close() }
