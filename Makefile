# The two commands of the README: `make demo` runs the main job, `make test` runs the tests.
# Both install what they need with scripts/install-deps, then configure and build.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build test demo bench clean format

all: build

deps:
	@scripts/install-deps $(DEPS_SET)

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: DEPS_SET=test
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: DEPS_SET=demo
demo: build
	scripts/demo

bench: DEPS_SET=all
bench: build
	bench/api/run.sh
	bench/recovery/run.sh

format:
	clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h')

clean:
	rm -rf $(BUILD)
