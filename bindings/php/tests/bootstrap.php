<?php

declare(strict_types=1);

// The tests use the package without composer, as a checkout would.
require_once dirname(__DIR__) . '/autoload.php';
require_once __DIR__ . '/Support/Child.php';
