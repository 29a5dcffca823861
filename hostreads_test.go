package goformer_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// familyDirs are the packages whose forward passes must run on any device
// (issue 19): model code reads tensor data on the host only in functions
// marked with a //goformer:host directive saying why (turning logits into
// tokens, CTC collapse, timing and DTW, text, post-processing downloaded
// results, preparing weights at load).
var familyDirs = []string{"nn", "vit", "clip", "whisper", "blip", "blip2", "gpt2", "wav2vec2", "llm", "llava"}

// hostDirective marks a function allowed to read tensor data on the host.
const hostDirective = "//goformer:host"

// TestNoHostReadsInForwardPasses fails for every function of a model
// package that reads tensor storage on the host (Data, At, Set, tensor.HostRows,
// tensor.HostData, tensor.ToHost, tensor.Parallel closures over slices)
// without the //goformer:host directive: the static half of the device
// check, whose dynamic half is every family's TestDevice_* test on the
// checking device (where such a read panics).
func TestNoHostReadsInForwardPasses(t *testing.T) {
	var bad []string
	allowed := 0
	for _, dir := range familyDirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(path, string(os.PathSeparator)+"testdata"+string(os.PathSeparator)) {
				continue
			}
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				reads := hostReads(fn.Body)
				if len(reads) == 0 {
					continue
				}
				if hasDirective(fn.Doc) {
					allowed++
					continue
				}
				pos := fset.Position(fn.Pos())
				bad = append(bad, pos.Filename+": "+fn.Name.Name+" reads "+strings.Join(reads, ", "))
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b + " on the host without " + hostDirective + " (move the work onto tensor operations, or mark host-side work with the directive and a reason)")
	}
	if allowed == 0 && len(bad) == 0 {
		t.Fatal("no function reads host data at all: the scan found nothing (wrong directory?)")
	}
	t.Logf("%d functions marked %s", allowed, hostDirective)
}

func hasDirective(doc *ast.CommentGroup) bool {
	if doc == nil {
		return false
	}
	for _, c := range doc.List {
		if strings.HasPrefix(c.Text, hostDirective+" ") {
			return true
		}
	}
	return false
}

// hostReads lists the host accesses to tensor storage in a function body
// (matched by shape: x.Data(), x.At(i, …), x.Set(v, i, …), and the tensor
// package's HostData, HostRows, ToHost and Parallel).
func hostReads(body *ast.BlockStmt) []string {
	seen := map[string]bool{}
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		name := sel.Sel.Name
		if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "tensor" {
			switch name {
			case "HostData", "HostRows", "ToHost", "Parallel":
				seen["tensor."+name] = true
			}
			return true
		}
		switch {
		case name == "Data" && len(call.Args) == 0,
			name == "At" && len(call.Args) >= 1,
			name == "Set" && len(call.Args) >= 2:
			seen["."+name] = true
		}
		return true
	})
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
