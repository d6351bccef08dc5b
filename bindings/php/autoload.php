<?php

declare(strict_types=1);

/*
 * Loader for use without composer: the same PSR-4 mapping composer.json declares
 * (Gearlet\ => src/) plus the namespaced GEARMAN_* constants, which PSR-4 cannot autoload.
 */

require_once __DIR__ . '/src/constants.php';

spl_autoload_register(static function (string $class): void {
    $prefix = 'Gearlet\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
