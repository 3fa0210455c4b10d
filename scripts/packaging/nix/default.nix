# bay0 as a static musl binary (pkgsStatic), with its man pages and bash and zsh
# completion. Source: the tarball `make dist` writes; add it to the store
# first (no public URL yet):
#   make dist && nix-store --add-fixed sha256 build/bay0-0.1.0.tar.gz
#   nix-build scripts/packaging/nix
# version and sha256 are filled in by scripts/packaging/update-sums.sh. The
# build runs the same `make static` as on Debian, with nixpkgs' musl compiler
# and static SQLite and Jansson instead of scripts/build-musl-deps.sh (MUSL_PREFIX=system);
# doCheck runs the unit tests.
{ pkgs ? import <nixpkgs> { } }:

let
  static = pkgs.pkgsStatic;
in
static.stdenv.mkDerivation rec {
  pname = "bay0";
  version = "0.1.0";

  src = pkgs.requireFile {
    name = "bay0-${version}.tar.gz";
    sha256 = "acb821e697597b1b2ab45bda1ef703355807ac1ebf69f4f068a042deadffefb1";
    message = ''
      bay0-${version}.tar.gz is made by `make dist` in bay0's source tree:
        make dist && nix-store --add-fixed sha256 build/bay0-${version}.tar.gz
    '';
  };

  buildInputs = [ static.sqlite static.jansson ];
  checkInputs = [ static.cmocka ];

  buildPhase = ''
    runHook preBuild
    make static MUSL_CC="$CC" MUSL_PREFIX=system
    runHook postBuild
  '';

  doCheck = true;
  checkPhase = ''
    runHook preCheck
    make unit
    runHook postCheck
  '';

  installPhase = ''
    runHook preInstall
    make install PREFIX=$out
    runHook postInstall
  '';

  meta = {
    description = "PID 1 and service supervisor for s6/runit-style service directories";
    platforms = pkgs.lib.platforms.linux;
    mainProgram = "bay0";
  };
}
