package tokenizer

import (
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goformer/goformer/internal/testdata"
)

// benchWords are common English words with a few long and rare ones; the
// generator draws them with a Zipf law, as in real text.
var benchWords = strings.Fields(`the of and to a in is it you that he was for on are with as I his they be at one have
this from or had by hot word but what some we can out other were all there when up use your how said an each she which
do their time if will way about many then them write would like so these her long make thing see him two has look more
day could go come did number sound no most people my over know water than call first who may down side been now find
any new work part take get place made live where after back little only round man year came show every good me give our
under name very through just form sentence great think say help low line differ turn cause much mean before move right
boy old too same tell does set three want air well also play small end put home read hand port large spell add even land
here must big high such follow act why ask men change went light kind off need house picture try us again animal point
mother world near build self earth father head stand own page should country found answer school grow study still learn
plant cover food sun four between state keep eye never last let thought city tree cross farm hard start might story saw
far sea draw left late run don't while press close night real life few north open seem together next white children begin
got walk example ease paper group always music those both mark often letter until mile river car feet care second book
carry took science eat room friend began idea fish mountain stop once base hear horse cut sure watch color face wood main
enough plain girl usual young ready above ever red list though feel talk bird soon body dog family direct pose leave song
measure door product black short numeral class wind question happen complete ship area half rock order fire south problem
piece told knew pass since top whole king space heard best hour better true during hundred five remember step early hold
west ground interest reach fast verb sing listen six table travel less morning ten simple several vowel toward war lay
against pattern slow center love person money serve appear road map rain rule govern pull cold notice voice unit power
town fine certain fly fall lead cry dark machine note wait plan figure star box noun field rest correct able pound done
beauty drive stood contain front teach week final gave green oh quick develop ocean warm free minute strong special mind
behind clear tail produce fact street inch multiply nothing course stay wheel full force blue object decide surface deep
moon island foot system busy test record boat common gold possible plane stead dry wonder laugh thousand ago ran check
game shape equate miss brought heat snow tire bring yes distant fill east paint language among transcription
internationalization photosynthesis electroencephalography counterrevolutionaries Americans Washington Mississippi`)

// englishText returns n bytes of English-like text.
func englishText(n int) string {
	rng := rand.New(rand.NewSource(42))
	zipf := rand.NewZipf(rng, 1.1, 2, uint64(len(benchWords)-1))
	var sb strings.Builder
	sb.Grow(n + 200)
	for sb.Len() < n {
		words := 4 + rng.Intn(20)
		for i := 0; i < words; i++ {
			w := benchWords[zipf.Uint64()]
			switch {
			case i == 0:
				w = strings.ToUpper(w[:1]) + w[1:]
			case rng.Intn(40) == 0:
				w = strconv.Itoa(rng.Intn(5000))
			case rng.Intn(60) == 0:
				w = `"` + w + `"`
			}
			sb.WriteString(w)
			switch {
			case i == words-1:
				sb.WriteString([]string{". ", ". ", "? ", "! ", ".\n\n"}[rng.Intn(5)])
			case rng.Intn(12) == 0:
				sb.WriteString(", ")
			default:
				sb.WriteByte(' ')
			}
		}
	}
	return sb.String()[:n]
}

func benchEncode(b *testing.B, tok interface{ Encode(string) []int }) {
	text := englishText(1 << 20)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	tokens := 0
	start := time.Now()
	for b.Loop() {
		tokens += len(tok.Encode(text))
	}
	b.ReportMetric(float64(tokens)/time.Since(start).Seconds(), "tokens/s")
	b.ReportMetric(float64(tokens)/float64(b.N), "tokens/op")
}

// BenchmarkEncode1MB encodes 1 MB of English text with GPT-2's vocabulary,
// with the word cache (the default) and without it (every word merged).
func BenchmarkEncode1MB(b *testing.B) {
	dir := testdata.Path(b, "vocab", "gpt2")
	b.Run("gpt2", func(b *testing.B) {
		tok := mustLoad(b, LoadBPE, dir)
		benchEncode(b, tok)
	})
	b.Run("gpt2-nocache", func(b *testing.B) {
		tok := mustLoad(b, LoadBPE, dir, WithCacheSize(0))
		benchEncode(b, tok)
	})
	b.Run("whisper-tiktoken", func(b *testing.B) {
		tok, err := LoadWhisperTiktoken(testdata.Path(b, "vocab", "whisper", "multilingual.tiktoken"), 99)
		if err != nil {
			b.Fatal(err)
		}
		benchEncode(b, tok)
	})
	b.Run("clip", func(b *testing.B) {
		tok := mustLoad(b, LoadCLIP, testdata.Path(b, "vocab", "clip"))
		benchEncode(b, tok)
	})
	b.Run("bert", func(b *testing.B) {
		tok := mustLoad(b, LoadWordPiece, testdata.Path(b, "vocab", "bert-base-uncased"))
		benchEncode(b, tok)
	})
}

// BenchmarkDecode1MB decodes the ids of 1 MB of English text.
func BenchmarkDecode1MB(b *testing.B) {
	tok := mustLoad(b, LoadBPE, testdata.Path(b, "vocab", "gpt2"))
	text := englishText(1 << 20)
	ids := tok.Encode(text)
	b.SetBytes(int64(len(text)))
	start := time.Now()
	n := 0
	for b.Loop() {
		_ = tok.Decode(ids, false)
		n += len(ids)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "tokens/s")
}

// BenchmarkLoad measures loading the vocabularies.
func BenchmarkLoad(b *testing.B) {
	dir := testdata.Path(b, "vocab", "whisper")
	for b.Loop() {
		if _, err := LoadWhisper(dir); err != nil {
			b.Fatal(err)
		}
	}
}
