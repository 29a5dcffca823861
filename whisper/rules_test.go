package whisper

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// testTokenizer is the real multilingual vocabulary from shared/vocab.
func testTokenizer(t *testing.T) *Tokenizer {
	t.Helper()
	tok, err := LoadTokenizer(testdata.Path(t, "vocab", "whisper"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// synthTok is a tokenizer layout without text (multilingual ids).
var synthTok = specialsFromVocabSize(51865)

func isInf(v float32) bool { return math.IsInf(float64(v), -1) }

func TestTimestampRules(t *testing.T) {
	tok := synthTok
	tb, eot := tok.TimestampBegin, tok.EOT
	const V = 51865
	sot := []int{tok.SOT, tok.LanguageBase, tok.Transcribe}
	text := 440 // an ordinary text token
	type check struct {
		id      int
		blocked bool
	}
	cases := []struct {
		name   string
		seq    []int // sampled tokens after the initial ones
		maxIdx int
		setup  func(row []float32)
		checks []check
	}{
		{
			name: "notimestamps is always suppressed",
			seq:  []int{tb + 1, text},
			setup: func(r []float32) {
				r[tok.NoTimestamps] = 40
				r[text] = 30
			},
			checks: []check{{tok.NoTimestamps, true}, {text, false}},
		},
		{
			name:   "first sampled token must be a timestamp",
			seq:    nil,
			maxIdx: -1,
			setup:  func(r []float32) { r[text] = 10 },
			checks: []check{{text, true}, {eot, true}, {tb, false}, {tb + 1400, false}},
		},
		{
			name:   "max_initial_timestamp bounds the first timestamp",
			seq:    nil,
			maxIdx: 50,
			checks: []check{{tb + 50, false}, {tb + 51, true}, {tb + 1500, true}},
		},
		{
			name: "a pair of timestamps must be followed by text",
			seq:  []int{tb + 3, text, tb + 7, tb + 7},
			setup: func(r []float32) {
				r[text] = 5
			},
			checks: []check{{tb + 8, true}, {tb + 1000, true}, {text, false}, {eot, false}},
		},
		{
			name: "a single timestamp after text must be followed by a timestamp or eot",
			seq:  []int{tb + 3, text, tb + 7},
			setup: func(r []float32) {
				for i := tb; i < V; i++ {
					r[i] = 3
				}
				r[eot] = 20 // keeps the timestamp mass from forcing a timestamp
			},
			checks: []check{{text, true}, {0, true}, {eot, false}, {tb + 6, true}, {tb + 7, false}, {tb + 9, false}},
		},
		{
			name: "timestamps do not decrease and segments have nonzero length",
			seq:  []int{tb + 3, text, text},
			setup: func(r []float32) {
				for i := tb; i < V; i++ {
					r[i] = 3
				}
				r[text] = 0
			},
			checks: []check{{tb + 2, true}, {tb + 3, true}, {tb + 4, false}},
		},
		{
			name: "timestamp mass above the best text token forces a timestamp",
			seq:  []int{tb + 3, text},
			setup: func(r []float32) {
				// each timestamp is less likely than the best text token, their
				// sum is not
				r[text] = 2
				for i := tb; i < V; i++ {
					r[i] = 0
				}
			},
			checks: []check{{text, true}, {eot, true}, {tb + 10, false}},
		},
		{
			name: "timestamp mass below the best text token leaves text allowed",
			seq:  []int{tb + 3, text},
			setup: func(r []float32) {
				r[text] = 30
			},
			checks: []check{{text, false}, {tb + 10, false}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			row := make([]float32, V)
			if c.setup != nil {
				c.setup(row)
			}
			tokens := append(append([]int(nil), sot...), c.seq...)
			r := &timestampRules{tok: tok, sampleBegin: len(sot), maxInitialIndex: c.maxIdx}
			if c.seq != nil && c.maxIdx == 0 {
				r.maxInitialIndex = -1
			}
			r.apply([][]float32{row}, [][]int{tokens})
			for _, ch := range c.checks {
				if isInf(row[ch.id]) != ch.blocked {
					t.Errorf("token %d blocked=%v, want %v", ch.id, isInf(row[ch.id]), ch.blocked)
				}
			}
		})
	}
}

func TestSuppression(t *testing.T) {
	tok := testTokenizer(t)
	m := &Model{Config: Config{VocabSize: 51865, MaxTargetPositions: 448, MaxSourcePositions: 1500}, tok: tok}
	ns, err := tok.NonSpeechTokens()
	if err != nil {
		t.Fatal(err)
	}
	always := []int{tok.Transcribe, tok.Translate, tok.SOT, tok.SOTPrev, tok.SOTLM, tok.NoSpeech}

	// default (-1): the non-speech set plus the special tokens
	def, err := m.suppressTokens(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range append(append([]int(nil), ns...), always...) {
		if !slices.Contains(def, id) {
			t.Errorf("default suppression misses %d", id)
		}
	}
	if slices.Contains(def, 440) || slices.Contains(def, tok.EOT) {
		t.Errorf("default suppression blocks ordinary text or eot")
	}
	// explicit list: exactly it plus the specials
	ex, _ := m.suppressTokens([]int{7, 9})
	want := append([]int{7, 9}, always...)
	slices.Sort(want)
	if !slices.Equal(ex, want) {
		t.Errorf("explicit suppression %v, want %v", ex, want)
	}
	// generation_config's list replaces -1 when present
	m.Generation.SuppressTokens = []int{11}
	gc, _ := m.suppressTokens(nil)
	if !slices.Contains(gc, 11) || slices.Contains(gc, ns[0]) && ns[0] != 11 {
		t.Errorf("generation_config suppression %v", gc)
	}
	m.Generation.SuppressTokens = nil

	// SuppressBlank: " " and eot at the first sampled position only
	blank, _ := m.beginSuppressTokens()
	if !slices.Equal(blank, []int{220, tok.EOT}) {
		t.Fatalf("begin suppress %v, want [220 %d]", blank, tok.EOT)
	}
	f := &suppressBlank{tokens: blank, sampleBegin: 3}
	row := make([]float32, 51865)
	f.apply([][]float32{row}, [][]int{{1, 2, 3}})
	if !isInf(row[220]) || !isInf(row[tok.EOT]) {
		t.Error("SuppressBlank did not block blank/eot at the first position")
	}
	row2 := make([]float32, 51865)
	f.apply([][]float32{row2}, [][]int{{1, 2, 3, 4}})
	if isInf(row2[220]) || isInf(row2[tok.EOT]) {
		t.Error("SuppressBlank blocked blank/eot after the first position")
	}

	// the filters in a decode task: NoSuppressTokens removes the filter
	task, err := m.newDecodeTask(DecodingOptions{Language: "en", NoSuppressTokens: true, NoSuppressBlank: true, WithoutTimestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(task.filters) != 0 {
		t.Errorf("%d filters with suppression and timestamps off", len(task.filters))
	}
	task, _ = m.newDecodeTask(DecodingOptions{Language: "en"})
	if len(task.filters) != 3 {
		t.Fatalf("%d filters by default, want SuppressBlank, SuppressTokens, ApplyTimestampRules", len(task.filters))
	}
	if _, ok := task.filters[0].(*suppressBlank); !ok {
		t.Error("first filter is not SuppressBlank")
	}
	if _, ok := task.filters[1].(suppressTokens); !ok {
		t.Error("second filter is not SuppressTokens")
	}
	if _, ok := task.filters[2].(*timestampRules); !ok {
		t.Error("third filter is not ApplyTimestampRules")
	}
}

func TestInitialTokens(t *testing.T) {
	tok := testTokenizer(t)
	m := &Model{Config: Config{VocabSize: 51865, MaxTargetPositions: 448, MaxSourcePositions: 1500}, tok: tok}
	prompt := make([]int, 300)
	for i := range prompt {
		prompt[i] = 1000 + i
	}
	task, err := m.newDecodeTask(DecodingOptions{Language: "fr", Task: "translate", Prompt: prompt, WithoutTimestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	fr, _ := tok.LanguageToken("fr")
	// <|startofprev|> + the last 223 prompt tokens + SOT, fr, translate, notimestamps
	if task.initial[0] != tok.SOTPrev || len(task.initial) != 1+223+4 {
		t.Fatalf("initial tokens: %d, starting %d", len(task.initial), task.initial[0])
	}
	if task.initial[1] != prompt[300-223] {
		t.Errorf("prompt not cut to its last 223 tokens")
	}
	tail := task.initial[len(task.initial)-4:]
	if !slices.Equal(tail, []int{tok.SOT, fr, tok.Translate, tok.NoTimestamps}) {
		t.Errorf("start sequence %v", tail)
	}
	if task.sotIndex != 224 {
		t.Errorf("sot index %d", task.sotIndex)
	}
}

// scripted drives longForm with canned decoding results.
type scripted struct {
	results []map[float64]DecodingResult // per window: by temperature
	calls   []float64                    // temperatures asked, in order
	prompts [][]int
	window  int
	last    float64
}

func (s *scripted) decode(_ context.Context, _ *tensor.Tensor, o DecodingOptions) (DecodingResult, error) {
	if len(s.calls) > 0 && o.Temperature <= s.last {
		s.window++
	}
	s.last = o.Temperature
	s.calls = append(s.calls, o.Temperature)
	s.prompts = append(s.prompts, append([]int(nil), o.Prompt...))
	w := min(s.window, len(s.results)-1)
	r, ok := s.results[w][o.Temperature]
	if !ok {
		r = s.results[w][0]
	}
	r.Temperature = o.Temperature
	return r, nil
}

func runScripted(t *testing.T, tok *Tokenizer, seconds float64, opt Options, s *scripted) *Result {
	t.Helper()
	cfg := Config{NumMelBins: 80, MaxSourcePositions: 1500, MaxTargetPositions: 448, VocabSize: 51865}
	frames := int(seconds*100) + 3000
	lf := &longForm{
		tok: tok, cfg: cfg,
		encode: func(context.Context, *tensor.Tensor) (*tensor.Tensor, error) { return nil, nil },
		decode: s.decode,
		detect: func(context.Context, *tensor.Tensor) (string, error) { return "en", nil },
	}
	res, err := lf.run(context.Background(), tensorMel{tensor.New(80, frames)}, opt)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestLongFormSeek(t *testing.T) {
	tok := testTokenizer(t)
	ts := func(sec float64) int { return tok.TimestampBegin + int(math.Round(sec/0.02)) }
	hello, world := 2425, 1002 // " Hello", " world"
	ok := func(tokens ...int) map[float64]DecodingResult {
		return map[float64]DecodingResult{0: {Tokens: tokens, AvgLogprob: -0.2, CompressionRatio: 1.2, NoSpeechProb: 0.01}}
	}
	type seg struct {
		seek       int
		start, end float64
	}
	cases := []struct {
		name    string
		seconds float64
		windows []map[float64]DecodingResult
		want    []seg
	}{
		{
			name:    "unfinished last segment: seek to the last timestamp",
			seconds: 50,
			windows: []map[float64]DecodingResult{
				ok(ts(0), hello, ts(2), ts(2), world, ts(5), ts(6), hello),
				ok(ts(0), world, ts(1.5)),
			},
			// window 2 starts at 5 s (last timestamp of the closed pairs)
			want: []seg{{0, 0, 2}, {0, 2, 5}, {500, 5, 6.5}, {3500, 35, 36.5}},
		},
		{
			name:    "single timestamp ending: the whole window is consumed",
			seconds: 40,
			windows: []map[float64]DecodingResult{
				ok(ts(0), hello, ts(2), ts(2), world, ts(4)),
				ok(ts(1), world, ts(3), ts(3), hello, ts(4)),
			},
			want: []seg{{0, 0, 2}, {0, 2, 4}, {3000, 31, 33}, {3000, 33, 34}},
		},
		{
			name:    "no timestamps: one segment over the whole window",
			seconds: 35,
			windows: []map[float64]DecodingResult{ok(hello, world), ok(world)},
			want:    []seg{{0, 0, 30}, {3000, 30, 35}},
		},
		{
			name:    "one trailing timestamp sets the segment end",
			seconds: 20,
			windows: []map[float64]DecodingResult{ok(hello, world, ts(7))},
			want:    []seg{{0, 0, 7}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &scripted{results: c.windows}
			res := runScripted(t, tok, c.seconds, Options{Temperatures: []float64{0}, Language: "en"}, s)
			var got []seg
			for _, x := range res.Segments {
				got = append(got, seg{x.Seek, x.Start, x.End})
			}
			if len(got) != len(c.want) {
				t.Fatalf("segments %+v, want %+v", got, c.want)
			}
			for i := range got {
				if got[i].seek != c.want[i].seek || math.Abs(got[i].start-c.want[i].start) > 1e-9 || math.Abs(got[i].end-c.want[i].end) > 1e-9 {
					t.Errorf("segment %d %+v, want %+v", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestLongFormPrompt(t *testing.T) {
	tok := testTokenizer(t)
	tb := tok.TimestampBegin
	hello, world := 2425, 1002
	w1 := map[float64]DecodingResult{0: {Tokens: []int{tb, hello, tb + 100}, AvgLogprob: -0.1, CompressionRatio: 1}}
	w2 := map[float64]DecodingResult{0: {Tokens: []int{tb, world, tb + 50}, AvgLogprob: -0.1, CompressionRatio: 1}}
	for _, cond := range []bool{true, false} {
		s := &scripted{results: []map[float64]DecodingResult{w1, w2}}
		runScripted(t, tok, 40, Options{Temperatures: []float64{0}, Language: "en", NoConditionOnPreviousText: !cond}, s)
		if len(s.prompts) != 2 {
			t.Fatalf("%d windows decoded", len(s.prompts))
		}
		if len(s.prompts[0]) != 0 {
			t.Errorf("first window prompt %v", s.prompts[0])
		}
		want := []int{tb, hello, tb + 100}
		if !cond {
			want = nil
		}
		if !slices.Equal(s.prompts[1], want) {
			t.Errorf("condition=%v: second prompt %v, want %v", cond, s.prompts[1], want)
		}
	}
	// an initial prompt is encoded with a leading space and fed first
	s := &scripted{results: []map[float64]DecodingResult{w1, w2}}
	res := runScripted(t, tok, 40, Options{Temperatures: []float64{0}, Language: "en", InitialPrompt: "  Hello "}, s)
	enc, _ := tok.Encode(" Hello")
	if !slices.Equal(s.prompts[0], enc) {
		t.Errorf("initial prompt %v, want %v", s.prompts[0], enc)
	}
	if res.Text != " Hello world" {
		t.Errorf("text %q leaves the initial prompt in or loses segments", res.Text)
	}
}

func TestFallback(t *testing.T) {
	tok := testTokenizer(t)
	tb := tok.TimestampBegin
	good := DecodingResult{Tokens: []int{tb, 2425, tb + 10}, AvgLogprob: -0.3, CompressionRatio: 1.1, NoSpeechProb: 0.1}
	repetitive := good
	repetitive.CompressionRatio = 3
	unlikely := good
	unlikely.AvgLogprob = -1.5
	silent := unlikely
	silent.NoSpeechProb = 0.9
	cases := []struct {
		name      string
		results   map[float64]DecodingResult
		opt       Options
		wantTemps []float64
		wantSegs  int
	}{
		{"good result: no fallback", map[float64]DecodingResult{0: good}, Options{}, []float64{0}, 1},
		{"compression ratio above 2.4 falls back", map[float64]DecodingResult{0: repetitive, 0.2: good}, Options{}, []float64{0, 0.2}, 1},
		{"average logprob below -1 falls back", map[float64]DecodingResult{0: unlikely, 0.2: unlikely, 0.4: good}, Options{}, []float64{0, 0.2, 0.4}, 1},
		{"every temperature fails: the last result is kept", map[float64]DecodingResult{0: repetitive}, Options{}, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, 1},
		{"disabled threshold: no fallback", map[float64]DecodingResult{0: repetitive}, Options{CompressionRatioThreshold: Float(math.NaN())}, []float64{0}, 1},
		{"silence: no fallback and the window is skipped", map[float64]DecodingResult{0: silent}, Options{}, []float64{0}, 0},
		{"likely despite no-speech: kept", map[float64]DecodingResult{0: {Tokens: good.Tokens, AvgLogprob: -0.2, CompressionRatio: 1, NoSpeechProb: 0.9}}, Options{}, []float64{0}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &scripted{results: []map[float64]DecodingResult{c.results}}
			c.opt.Language = "en"
			res := runScripted(t, tok, 10, c.opt, s)
			if !slices.Equal(s.calls, c.wantTemps) {
				t.Errorf("temperatures %v, want %v", s.calls, c.wantTemps)
			}
			if len(res.Segments) != c.wantSegs {
				t.Errorf("%d segments, want %d", len(res.Segments), c.wantSegs)
			}
		})
	}
	// beam search is only used at temperature 0, best_of only above
	s := &scripted{results: []map[float64]DecodingResult{{0: repetitive, 0.2: good}}}
	var seen []DecodingOptions
	cfg := Config{NumMelBins: 80, MaxSourcePositions: 1500, MaxTargetPositions: 448, VocabSize: 51865}
	lf := &longForm{tok: tok, cfg: cfg,
		encode: func(context.Context, *tensor.Tensor) (*tensor.Tensor, error) { return nil, nil },
		decode: func(ctx context.Context, e *tensor.Tensor, o DecodingOptions) (DecodingResult, error) {
			seen = append(seen, o)
			return s.decode(ctx, e, o)
		},
	}
	if _, err := lf.run(context.Background(), tensorMel{tensor.New(80, 4000)}, Options{Language: "en", BeamSize: 5, Patience: 2, BestOf: 5}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].BeamSize != 5 || seen[0].Patience != 2 || seen[0].BestOf != 0 || seen[1].BeamSize != 0 || seen[1].Patience != 0 || seen[1].BestOf != 5 {
		t.Errorf("options per temperature: %+v", seen)
	}
}

func TestPyTail(t *testing.T) {
	s := []int{1, 2, 3, 4}
	for k, want := range map[int][]int{2: {3, 4}, 9: {1, 2, 3, 4}, 0: {1, 2, 3, 4}, -1: {2, 3, 4}, -9: {}} {
		if got := pyTail(s, k); !slices.Equal(got, want) {
			t.Errorf("s[-%d:] = %v, want %v", k, got, want)
		}
	}
}

func TestCarryInitialPrompt(t *testing.T) {
	tok := testTokenizer(t)
	tb := tok.TimestampBegin
	w := map[float64]DecodingResult{0: {Tokens: []int{tb, 2425, tb + 100}, AvgLogprob: -0.1, CompressionRatio: 1}}
	s := &scripted{results: []map[float64]DecodingResult{w}}
	runScripted(t, tok, 65, Options{Temperatures: []float64{0}, Language: "en", InitialPrompt: "Hi", CarryInitialPrompt: true, NoConditionOnPreviousText: true}, s)
	hi, _ := tok.Encode(" Hi")
	for i, p := range s.prompts {
		// without conditioning only the initial prompt is carried
		if !slices.Equal(p, hi) {
			t.Errorf("window %d prompt %v, want %v", i, p, hi)
		}
	}
	s = &scripted{results: []map[float64]DecodingResult{w}}
	runScripted(t, tok, 65, Options{Temperatures: []float64{0}, Language: "en", InitialPrompt: "Hi", CarryInitialPrompt: true}, s)
	want := append(append([]int(nil), hi...), tb, 2425, tb+100)
	if len(s.prompts) < 2 || !slices.Equal(s.prompts[1], want) {
		t.Errorf("second prompt %v, want %v", s.prompts, want)
	}
}

func TestWordTimestampSeek(t *testing.T) {
	tok := testTokenizer(t)
	ts := func(sec float64) int { return tok.TimestampBegin + int(math.Round(sec/0.02)) }
	hello, world := 2425, 1002
	win := func(tokens ...int) map[float64]DecodingResult {
		return map[float64]DecodingResult{0: {Tokens: tokens, AvgLogprob: -0.2, CompressionRatio: 1.2, NoSpeechProb: 0.01}}
	}
	// scripted word timings per call of the words hook (window)
	run := func(opt Options, windows []map[float64]DecodingResult, words [][][]Word) (*Result, []int) {
		s := &scripted{results: windows}
		call := 0
		var seeks []int
		cfg := Config{NumMelBins: 80, MaxSourcePositions: 1500, MaxTargetPositions: 448, VocabSize: 51865}
		lf := &longForm{tok: tok, cfg: cfg,
			encode: func(context.Context, *tensor.Tensor) (*tensor.Tensor, error) { return nil, nil },
			decode: s.decode,
			words: func(_ context.Context, segs []Segment, _ *Tokenizer, _, _ string, _ *tensor.Tensor, _ int, _, _ string, _ float64) error {
				w := words[min(call, len(words)-1)]
				call++
				seeks = append(seeks, segs[0].Seek)
				for i := range segs {
					if i < len(w) {
						segs[i].Words = w[i]
						if len(w[i]) > 0 {
							segs[i].Start, segs[i].End = w[i][0].Start, w[i][len(w[i])-1].End
						}
					}
				}
				return nil
			},
		}
		opt.Language, opt.Temperatures, opt.WordTimestamps = "en", []float64{0}, true
		res, err := lf.run(context.Background(), tensorMel{tensor.New(80, 4000+3000)}, opt)
		if err != nil {
			t.Fatal(err)
		}
		return res, seeks
	}

	// the window ends with a closed pair: seek to the end of the last word
	// (4.0 s), not to the last timestamp (5 s)
	_, seeks := run(Options{}, []map[float64]DecodingResult{win(ts(0), hello, ts(2), ts(2), world, ts(5), ts(5)), win(ts(0), world, ts(1))},
		[][][]Word{{{{Word: " Hello", Start: 0.5, End: 1.5, Probability: 0.9}}, {{Word: " world", Start: 2.5, End: 4.0, Probability: 0.9}}}, {{{Word: " world", Start: 4.1, End: 4.5, Probability: 0.9}}}})
	if len(seeks) < 2 || seeks[1] != 400 {
		t.Errorf("window seeks %v, want the second at 400", seeks)
	}

	// a likely hallucination after a long silence: skip to its start
	anomaly := []Word{{Word: " Hello", Start: 3.0, End: 3.02, Probability: 0.01}}
	res, seeks := run(Options{HallucinationSilenceThreshold: 1},
		[]map[float64]DecodingResult{win(ts(0), hello, ts(4), ts(4), world, ts(8), ts(8)), win(ts(0), world, ts(1))},
		[][][]Word{{anomaly, {{Word: " world", Start: 5, End: 6, Probability: 0.9}}}, {{{Word: " world", Start: 3.2, End: 3.8, Probability: 0.9}}}})
	if len(seeks) < 2 || seeks[1] != 300 {
		t.Errorf("window seeks %v, want the second at 300", seeks)
	}
	if len(res.Segments) == 0 || res.Segments[0].Seek != 300 {
		t.Errorf("the hallucinated window was kept: %+v", res.Segments)
	}
}
