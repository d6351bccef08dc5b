<?php

declare(strict_types=1);

/**
 * The classic Gearman example's worker function: the workload is an image, the result a
 * 200x150 JPEG thumbnail of it. It takes a pecl GearmanJob or a Gearlet\Job alike.
 */
return static function ($job): string {
    $image = new Imagick();
    $image->readImageBlob($job->workload());
    $image->scaleImage(200, 150);
    $image->setImageFormat('jpeg');
    $thumb = $image->getImageBlob();
    $image->clear();
    return $thumb;
};
