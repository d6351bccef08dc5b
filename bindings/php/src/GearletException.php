<?php

declare(strict_types=1);

namespace Gearlet;

/**
 * A gearlet call failed. Thrown by Server (which has no pecl counterpart to imitate) and by the
 * loader; Client, Worker and Job report failures through returnCode() instead, as pecl does.
 * getCode() is the gearlet_status number from the C ABI (0 for loader problems).
 */
class GearletException extends \RuntimeException
{
}
