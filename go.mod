module github.com/masscanned-go/masscanned

go 1.26.8
