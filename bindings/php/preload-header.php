<?php

declare(strict_types=1);

/*
 * Prints the header for PHP's ffi.preload, for PHP-FPM and other non-CLI SAPIs where
 * ffi.enable=preload (PHP's default) refuses FFI::cdef() at request time:
 *
 *   php bindings/php/preload-header.php [/path/to/libgearlet.so.0] > /etc/php/8.2/gearlet-ffi.h
 *
 *   ; php.ini of the FPM pool
 *   ffi.enable=preload
 *   ffi.preload=/etc/php/8.2/gearlet-ffi.h
 *
 * It is the flat header plus the FFI_SCOPE/FFI_LIB lines PHP's preloader reads; Gearlet\Native
 * then uses the preloaded scope "gearlet" instead of loading the library itself. Without a
 * library argument, the library is the one Gearlet\Native would load (GEARLET_LIB, the
 * repository's target/c/lib, then libgearlet.so.0 through the system loader).
 */

require_once __DIR__ . '/autoload.php';

$library = $argv[1] ?? Gearlet\Native::libraryCandidates()[0];
if (str_contains($library, '/') && $library[0] !== '/') {
    $library = getcwd() . '/' . $library; // absolute, but symlinks kept so upgrades follow them
}
echo '#define FFI_SCOPE "', Gearlet\Native::SCOPE, "\"\n";
echo '#define FFI_LIB "', addcslashes($library, "\"\\"), "\"\n";
echo file_get_contents(Gearlet\Native::headerPath());
